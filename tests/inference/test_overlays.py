"""Heat-map overlays and greyscale PNG round trips."""

import io

import numpy as np
import pytest
from PIL import Image

from inference.overlays import (
    ALPHA_START,
    MAX_ALPHA,
    saliency_from_png,
    saliency_legend_png,
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
        assert image.mode == "P" and "transparency" in image.info  # a palette with per-entry alpha
        assert image.size == expected_size


def test_overlay_png_is_transparent_where_saliency_is_zero() -> None:
    sal = np.zeros((200, 300), dtype=np.float32)
    sal[80:120, 130:170] = 1.0
    with Image.open(io.BytesIO(saliency_overlay_png(sal, max_side=150))) as image:
        rgba = np.asarray(image.convert("RGBA"))
    assert rgba.shape == (100, 150, 4)
    assert rgba[:30, :, 3].max() == 0
    assert rgba[50, 75, 3] == MAX_ALPHA


def test_overlay_png_rejects_bad_max_side() -> None:
    with pytest.raises(ValueError):
        saliency_overlay_png(np.zeros((4, 4)), max_side=0)


def _blob(height: int = 768, width: int = 1024, sigma: float = 120.0) -> np.ndarray:
    """A Gaussian blob peaking at 1 in the middle: what a one-subject saliency map looks like."""
    y, x = np.mgrid[0:height, 0:width]
    return np.exp(-((x - width / 2) ** 2 + (y - height / 2) ** 2) / (2 * sigma**2)).astype(np.float32)


def _decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGBA")).astype(int)


def test_opacity_follows_saliency_and_is_nil_where_nobody_looks() -> None:
    levels = np.linspace(0.0, 1.0, 1001)
    alpha = saliency_overlay_rgba(levels[None, :])[0, :, 3].astype(int)
    assert (alpha[levels < ALPHA_START] == 0).all()
    assert (np.diff(alpha) >= 0).all() and alpha[-1] == MAX_ALPHA
    # Readable at a glance: from half the peak up, at least 40 % opaque.
    assert alpha[levels >= 0.5].min() >= 0.4 * 255


def test_outline_is_light_inside_and_dark_outside_the_half_peak_level() -> None:
    """On any photo one of the two lines contrasts with it: a white wall shows the dark one, a
    night sky the light one."""
    sal = _blob()
    rgba = _decoded(saliency_overlay_png(sal))
    row = rgba[384]  # through the peak, whose half level lies sigma * sqrt(2 ln 2) = 141 px out
    edge = 512 + 120 * np.sqrt(2 * np.log(2))
    luma = row[:, :3] @ np.array([0.299, 0.587, 0.114])
    inside, outside = slice(int(edge) - 2, int(edge) + 1), slice(int(edge) + 1, int(edge) + 4)
    assert luma[inside].max() > 235 and row[inside, 3].max() > 200  # white, nearly opaque
    assert luma[outside].min() < 60 and row[outside, 3].max() > 150  # dark, mostly opaque
    # Away from the line (crossed at x = 371 and 653) the heat map is untouched.
    heat = saliency_overlay_rgba(sal)
    for away in (slice(0, 360), slice(380, 645), slice(662, 1024)):
        np.testing.assert_array_equal(row[away], heat[384, away])


def test_outline_is_one_closed_ring_around_each_subject() -> None:
    sal = _blob()
    rgba = _decoded(saliency_overlay_png(sal))
    white = (rgba[..., :3].min(axis=-1) > 235) & (rgba[..., 3] > 200)
    y, x = np.nonzero(white)
    radius = np.hypot(x - 512, y - 384)
    assert np.abs(radius - 120 * np.sqrt(2 * np.log(2))).max() < 4
    angles = np.degrees(np.arctan2(y - 384, x - 512)) % 360
    assert len(np.unique(np.floor(angles / 10))) == 36  # no gap wider than 10 degrees


def test_a_map_without_a_half_peak_edge_has_no_outline() -> None:
    flat = np.full((60, 80), 0.3, dtype=np.float32)
    np.testing.assert_array_equal(_decoded(saliency_overlay_png(flat)), saliency_overlay_rgba(flat))


def test_legend_runs_from_transparent_to_the_peak_colour() -> None:
    legend = _decoded(saliency_legend_png())
    assert legend.shape == (12, 160, 4)
    assert legend[0, 0, 3] == 0 and tuple(legend[0, -1]) == (252, 255, 164, MAX_ALPHA)
    assert (np.diff(legend[0, :, 3]) >= 0).all()
    np.testing.assert_array_equal(legend, saliency_overlay_rgba(np.tile(np.linspace(0, 1, 160), (12, 1))))


def test_the_look_has_a_name_that_changes_with_any_colour(monkeypatch) -> None:
    from inference import overlays

    def fresh_look() -> str:
        overlays._palette.cache_clear()
        overlays.overlay_look.cache_clear()
        return overlays.overlay_look()

    before = fresh_look()
    assert len(before) == 8 and overlays.overlay_look() == before
    try:
        monkeypatch.setattr(overlays, "MAX_ALPHA", overlays.MAX_ALPHA - 1)
        assert fresh_look() != before
    finally:
        monkeypatch.undo()
        assert fresh_look() == before
