"""Heat-map overlays and greyscale PNG round trips."""

import io

import numpy as np
import pytest
from PIL import Image

from inference.overlays import (
    MAX_ALPHA,
    saliency_from_png,
    saliency_map_png,
    saliency_overlay_png,
    saliency_overlay_rgba,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _ramp(height: int, width: int) -> np.ndarray:
    return np.tile(np.linspace(0.0, 1.0, width, dtype=np.float32), (height, 1))


def test_rgba_shape_colours_and_alpha() -> None:
    sal = _ramp(4, 11)
    rgba = saliency_overlay_rgba(sal)
    assert rgba.shape == (4, 11, 4) and rgba.dtype == np.uint8
    assert tuple(rgba[0, 0]) == (0, 0, 4, 0)  # inferno's first colour, transparent
    assert tuple(rgba[0, -1]) == (252, 255, 164, MAX_ALPHA)
    alpha = rgba[0, :, 3].astype(int)
    assert (np.diff(alpha) > 0).all()
    assert alpha[1] < 10  # saliency 0.1: nearly transparent
    # Inferno brightens monotonically: luma rises along the ramp.
    luma = rgba[0, :, :3] @ np.array([0.299, 0.587, 0.114])
    assert (np.diff(luma) > 0).all()


def test_rgba_clips_out_of_range_and_nan() -> None:
    rgba = saliency_overlay_rgba(np.array([[-1.0, np.nan, 2.0]]))
    assert rgba[0, 0, 3] == 0 and rgba[0, 1, 3] == 0
    assert rgba[0, 2, 3] == MAX_ALPHA


def test_map_png_round_trip() -> None:
    sal = np.random.default_rng(0).random((37, 53)).astype(np.float32)
    data = saliency_map_png(sal)
    assert data.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == "L" and image.size == (53, 37)
    back = saliency_from_png(data)
    assert back.shape == sal.shape and back.dtype == np.float32
    np.testing.assert_allclose(back, sal, atol=0.5 / 255 + 1e-6)
    assert back.min() >= 0.0 and back.max() <= 1.0
    # Exact on values already on the 8-bit grid.
    np.testing.assert_array_equal(saliency_from_png(saliency_map_png(back)), back)


def test_map_png_keeps_extremes_and_tiny_maps() -> None:
    sal = np.array([[0.0, 1.0]])
    np.testing.assert_array_equal(saliency_from_png(saliency_map_png(sal)), sal)


@pytest.mark.parametrize(
    ("shape", "max_side", "expected_size"),
    [
        ((300, 2000), 1024, (1024, 154)),
        ((2000, 300), 1024, (154, 1024)),
        ((600, 800), 1024, (800, 600)),
        ((1, 5000), 100, (100, 1)),
        ((500, 500), 64, (64, 64)),
    ],
)
def test_overlay_png_size_cap(
    shape: tuple[int, int], max_side: int, expected_size: tuple[int, int]
) -> None:
    data = saliency_overlay_png(_ramp(*shape), max_side=max_side)
    assert data.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == "RGBA"
        assert image.size == expected_size


def test_overlay_png_is_transparent_where_saliency_is_zero() -> None:
    sal = np.zeros((200, 300), dtype=np.float32)
    sal[80:120, 130:170] = 1.0
    with Image.open(io.BytesIO(saliency_overlay_png(sal, max_side=150))) as image:
        rgba = np.asarray(image)
    assert rgba.shape == (100, 150, 4)
    assert rgba[:30, :, 3].max() == 0
    assert rgba[50, 75, 3] == MAX_ALPHA


def test_overlay_png_rejects_bad_max_side() -> None:
    with pytest.raises(ValueError):
        saliency_overlay_png(np.zeros((4, 4)), max_side=0)
