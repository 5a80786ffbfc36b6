"""Saliency crop box: the box with the most saliency mass for its area."""

import math

import numpy as np
import pytest

from inference.images import saliency_crop_box


def _blob(shape: tuple[int, int], centre: tuple[float, float], sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * sigma**2))


def _contains(box: tuple[int, int, int, int], y: float, x: float) -> bool:
    left, top, right, bottom = box
    return left <= x < right and top <= y < bottom


def test_mass_in_one_corner() -> None:
    sal = _blob((120, 160), (20, 25), 8)
    box = saliency_crop_box(sal)
    left, top, right, bottom = box
    assert _contains(box, 20, 25)
    assert right <= 80 and bottom <= 60  # stays in the top-left quadrant
    assert right - left >= 40 and bottom - top >= 30  # the 0.25 minimum sides


def test_broad_blob_outweighs_brighter_spike() -> None:
    # The global peak is a tiny bright spike (mass 9 * 20 = 180); the broad
    # blob is dimmer but holds about 2 * pi * 15**2 = 1400. A box centred on
    # the peak would crop the spike.
    sal = _blob((200, 300), (130, 200), 15)
    sal[28:31, 38:41] = 20.0
    peak = np.unravel_index(sal.argmax(), sal.shape)
    box = saliency_crop_box(sal)
    assert not _contains(box, *peak)
    assert _contains(box, 130, 200)


def test_box_hugs_the_mass_without_minimum() -> None:
    sal = np.zeros((10, 12))
    sal[4:6, 7:10] = 1.0
    assert saliency_crop_box(sal, min_side_fraction=0.0) == (7, 4, 10, 6)


def test_ties_go_to_the_smaller_box() -> None:
    # Mean density is 1 a pixel; pixels 1 and 2 sit exactly at the mean, so
    # [0, 1), [0, 2) and [0, 3) all hold 0.25 more than a uniform map.
    sal = np.array([[2.0, 1.0, 1.0, 0.0]])
    assert saliency_crop_box(sal, min_side_fraction=0.0) == (0, 0, 1, 1)


@pytest.mark.parametrize("shape", [(1, 1), (1, 50), (50, 1), (30, 40), (333, 517)])
def test_uniform_or_empty_map_gives_whole_image(shape: tuple[int, int]) -> None:
    whole = (0, 0, shape[1], shape[0])
    assert saliency_crop_box(np.full(shape, 0.4)) == whole
    assert saliency_crop_box(np.zeros(shape)) == whole


@pytest.mark.parametrize(
    "shape", [(1, 1), (1, 7), (7, 1), (3, 5), (1, 300), (300, 20), (97, 211), (512, 384)]
)
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 0.6, 1.0])
def test_box_in_bounds_and_respects_minimum_side(shape: tuple[int, int], fraction: float) -> None:
    sal = np.random.default_rng(shape[0] * 1000 + shape[1]).random(shape) ** 4
    left, top, right, bottom = saliency_crop_box(sal, min_side_fraction=fraction)
    height, width = shape
    assert 0 <= left < right <= width and 0 <= top < bottom <= height
    assert right - left >= math.ceil(fraction * width)
    assert bottom - top >= math.ceil(fraction * height)
    assert all(isinstance(v, int) for v in (left, top, right, bottom))


def test_full_minimum_side_gives_whole_image() -> None:
    sal = _blob((60, 90), (10, 10), 4)
    assert saliency_crop_box(sal, min_side_fraction=1.0) == (0, 0, 90, 60)


def test_negative_and_nan_values_count_as_zero() -> None:
    sal = np.full((10, 12), -5.0)
    sal[0, 0] = np.nan
    sal[4:6, 7:10] = 1.0
    assert saliency_crop_box(sal, min_side_fraction=0.0) == (7, 4, 10, 6)


@pytest.mark.parametrize("bad", [np.zeros((3, 3, 3)), np.zeros((0, 4)), np.zeros(5)])
def test_rejects_non_maps(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        saliency_crop_box(bad)


def test_rejects_bad_fraction() -> None:
    with pytest.raises(ValueError):
        saliency_crop_box(np.ones((4, 4)), min_side_fraction=1.5)

