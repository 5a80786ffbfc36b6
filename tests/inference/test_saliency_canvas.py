"""Fitting photos of any shape onto the networks' canvases and back."""

import numpy as np
import pytest

from inference.saliency.canvas import as_rgb, canvas_for, from_canvas, map_to_canvas, placement_for, to_canvas


@pytest.mark.parametrize(
    ("shape", "canvas"),
    [((384, 512), (240, 320)), ((512, 384), (320, 240)), ((256, 256), (320, 320)), ((40, 2000), (240, 320)),
     ((2000, 40), (320, 240)), ((1, 1), (320, 320))],
)
def test_nearest_canvas(shape, canvas) -> None:
    assert canvas_for(*shape) == canvas


def test_placement_keeps_the_aspect_ratio_and_centres() -> None:
    place = placement_for(40, 2000)
    assert (place.height, place.width) == (6, 320)
    assert (place.top, place.left) == (117, 0)
    assert placement_for(384, 512) == ((240, 320), 0, 0, 240, 320)
    tiny = placement_for(1, 3)
    assert tiny.height >= 1 and tiny.width >= 1


def test_grey_and_rgba_become_rgb() -> None:
    assert as_rgb(np.zeros((4, 5), np.uint8)).shape == (4, 5, 3)
    rgba = np.arange(4 * 5 * 4, dtype=np.uint8).reshape(4, 5, 4)
    np.testing.assert_array_equal(as_rgb(rgba), rgba[..., :3])
    with pytest.raises(ValueError):
        as_rgb(np.zeros((4, 5, 2), np.uint8))


@pytest.mark.parametrize("shape", [(300, 100), (100, 300), (240, 320), (57, 911)])
def test_round_trip_has_no_padding_or_distortion(shape) -> None:
    """A horizontal ramp drawn through the canvas and back comes out as the same ramp."""
    height, width = shape
    ramp = np.tile(np.linspace(0, 255, width, dtype=np.float32), (height, 1))
    canvas, place = to_canvas(ramp.astype(np.uint8))
    back = from_canvas(canvas[..., 0].astype(np.float32), place, height, width)
    assert back.shape == shape
    # Padding (127) never leaks in, and columns keep their place: error is resampling only.
    assert np.abs(back - ramp).mean() < 3
    # The same holds at the networks' half-resolution output.
    half = canvas[::2, ::2, 0].astype(np.float32)
    assert np.abs(from_canvas(half, place, height, width) - ramp).mean() < 6


def test_map_to_canvas_places_density_where_the_photo_is() -> None:
    density = np.ones((100, 300), np.float32)
    place = placement_for(100, 300)
    target = map_to_canvas(density, place, (120, 160))
    assert target.shape == (120, 160)
    assert target[0].max() == 0 and target[60].min() > 0.99  # padding rows empty, photo rows full
