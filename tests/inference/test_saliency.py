"""Spectral-residual saliency model on images generated in memory."""

import numpy as np
import pytest

from inference.saliency.metrics import centre_bias_map
from inference.saliency.spectral import VERSION, predict_saliency_spectral

SHAPES = [
    (1, 1),
    (1, 1, 3),
    (3, 5),
    (2, 2, 4),
    (1, 9),
    (9, 1, 3),
    (37, 53),
    (53, 37, 3),
    (20, 30, 4),
    (40, 2000, 3),
    (2000, 40),
    (480, 320, 3),
    (333, 500, 4),
]


def test_version() -> None:
    assert VERSION == "spectral-residual-cb-v1"


@pytest.mark.parametrize("shape", SHAPES)
def test_output_has_input_size_and_unit_range(shape: tuple[int, ...]) -> None:
    image = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    sal = predict_saliency_spectral(image)
    assert sal.shape == shape[:2]
    assert sal.dtype == np.float32
    assert np.isfinite(sal).all()
    assert sal.min() >= 0.0
    assert sal.max() == pytest.approx(1.0)


@pytest.mark.parametrize("shape", [(1, 1), (4, 6, 3), (30, 50, 3), (40, 2000), (64, 48, 4)])
@pytest.mark.parametrize("value", [0, 128, 255])
def test_constant_image_gives_centre_prior(shape: tuple[int, ...], value: int) -> None:
    sal = predict_saliency_spectral(np.full(shape, value, dtype=np.uint8))
    prior = centre_bias_map(*shape[:2])
    np.testing.assert_allclose(sal, prior / prior.max(), atol=1e-6)


def _scene_with_square() -> tuple[np.ndarray, tuple[slice, slice], tuple[slice, slice]]:
    """Grey scene, a bright square in the top-left quadrant, and the slices
    of the square and of its mirror image through the centre."""
    image = np.full((120, 160, 3), 100, dtype=np.uint8)
    square = (slice(20, 40), slice(25, 45))
    mirror = (slice(80, 100), slice(115, 135))
    image[square] = 230
    return image, square, mirror


def test_bright_object_beats_background() -> None:
    image, square, mirror = _scene_with_square()
    sal = predict_saliency_spectral(image)
    background = np.ones(sal.shape, dtype=bool)
    background[10:50, 15:55] = False  # the square and its blurred rim
    assert sal[square].mean() > sal[background].mean()
    # Same distance from the centre, so the prior cannot tell them apart.
    assert sal[square].mean() > 1.5 * sal[mirror].mean()


def test_alpha_and_grey_input_agree_with_rgb() -> None:
    image, _, _ = _scene_with_square()
    rgba = np.dstack([image, np.full(image.shape[:2], 7, dtype=np.uint8)])
    expected = predict_saliency_spectral(image)
    np.testing.assert_allclose(predict_saliency_spectral(rgba), expected)
    np.testing.assert_allclose(predict_saliency_spectral(image[..., 0]), expected, atol=1e-5)


@pytest.mark.parametrize("shape", [(5, 5, 2), (5, 5, 5), (5,), (0, 4, 3)])
def test_rejects_bad_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        predict_saliency_spectral(np.zeros(shape, dtype=np.uint8))
