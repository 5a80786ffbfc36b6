"""Training-free saliency: spectral residual blended with a centre prior.

Spectral residual (Hou & Zhang, CVPR 2007): on a small greyscale copy of
the image, take the log-amplitude spectrum, subtract its 3x3 local average
(the "expected" smooth spectrum of natural images), keep the phase, invert
the FFT, square and blur. What survives is the part of the image that is
statistically unexpected. People also look at the image centre whatever it
holds, so the map is blended with a centre-bias Gaussian, then resized to
the input's own size.

Parameters, chosen by a grid search of mean CC and NSS on a tuning split
of OSIE (every third image: 200 of 600) and checked on NUS scene:

* ``WORK_SIDE = 128``: long side of the working copy. The paper uses 64;
  on OSIE 64 px scored CC 0.408 / NSS 1.19 for the best blend against
  0.432 / 1.30 at 128. 192 and 256 gained < 0.01 CC on OSIE, but 192
  lost on NUS scene, where 96 to 128 was best, so 128 generalises better.
* ``BLUR_SIGMA = 4.5`` working pixels (3.5 % of the long side): blur of
  the squared residual (searched 1.5 to 6 px at 64 px and 3.5 to 5.5 px
  at 128 px; larger smears objects away, smaller leaves edge speckle).
* ``CENTRE_WEIGHT = 0.35``: weight ``w`` of the prior in the linear blend
  ``(1 - w) * residual + w * prior``, each scaled to max 1 first
  (searched 0 to 1 in steps of 0.1, then 0.3 to 0.45 in steps of 0.05;
  0.35 maximised CC, NSS peaks at 0.3 within 0.01).
* ``SPECTRAL_FLOOR = 0.01``: amplitude floor before the log, as a fraction
  of the mean amplitude. Not in the paper: synthetic or flat-coloured
  images have exact spectral zeros whose log spikes otherwise drown the
  object (a bright square on grey scored below its background); on OSIE
  it changes CC and NSS by < 0.001.
* ``CENTRE_SIGMA_FRACTION = 0.3`` (in ``metrics.py``): the prior's sigma as
  a fraction of each image side (searched 0.15 to 0.35; 0.25 to 0.35 are
  within 0.002 CC).

Measured on OSIE (/work/shared/data/saliency/osie, 512x384) with
``metrics.py``, maps compared at ground-truth size, mean over images.
Held-out split: the 400 images not used for tuning.

=====================  =====  =====  ========
held out, 400 images   CC     NSS    AUC-Judd
=====================  =====  =====  ========
(a) centre prior       0.302  0.843  0.739
(b) spectral residual  0.363  1.172  0.778
(c) blend (this model) 0.436  1.327  0.820
=====================  =====  =====  ========

All 600 images: (a) 0.303 / 0.837 / 0.738, (b) 0.360 / 1.164 / 0.776,
(c) 0.435 / 1.319 / 0.818. On NUS scene (500 images, used only to pick
WORK_SIDE) the blend scores CC 0.501, NSS 1.207, AUC-Judd 0.804 against
the prior's 0.477 / 1.068 / 0.785 and the residual's 0.287 / 0.765 /
0.704.
"""

from __future__ import annotations

import numpy as np

from inference.images import resize_map
from inference.saliency.metrics import centre_bias_map

VERSION = "spectral-residual-cb-v1"

WORK_SIDE = 128
#: Short side floor of the working copy: a 40x2000 panorama would otherwise
#: shrink to a single row and the 2-D spectrum would degenerate.
MIN_WORK_SIDE = 16
BLUR_SIGMA = 4.5
#: Amplitude floor, as a fraction of the mean amplitude, before the log.
SPECTRAL_FLOOR = 0.01
CENTRE_WEIGHT = 0.35

# ITU-R BT.601 luma, the same weights as Pillow's "L" conversion.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _greyscale(image: np.ndarray) -> np.ndarray:
    """HxW, HxWx3 or HxWx4 image as HxW float32 luma (alpha ignored)."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image.astype(np.float32)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return (image[..., :3] @ _LUMA).astype(np.float32)
    raise ValueError(f"expected an HxW, HxWx3 or HxWx4 image, got shape {image.shape}")


def _work_shape(height: int, width: int) -> tuple[int, int]:
    """Working size: long side WORK_SIDE, aspect kept down to MIN_WORK_SIDE."""
    scale = WORK_SIDE / max(height, width)
    return max(MIN_WORK_SIDE, round(height * scale)), max(MIN_WORK_SIDE, round(width * scale))


def _gaussian_matrix(n: int, sigma: float) -> np.ndarray:
    """n x n Gaussian blur operator with rows renormalised at the borders.

    Renormalising (rather than zero padding) keeps borders from darkening;
    on a <= 128 px working copy a dense matrix product is the cheapest blur.
    """
    d = np.arange(n)[:, None] - np.arange(n)[None, :]
    weights = np.exp(-0.5 * (d / sigma) ** 2)
    return weights / weights.sum(axis=1, keepdims=True)


def spectral_residual(grey: np.ndarray, blur_sigma: float = BLUR_SIGMA) -> np.ndarray:
    """Spectral-residual saliency of a small greyscale image, max 1.

    A flat image has no residual to speak of; it returns zeros.
    """
    grey = grey.astype(np.float64)
    if np.ptp(grey) <= 1e-6 * np.abs(grey).max():
        return np.zeros_like(grey)
    # Removing the mean stops the DC term adding a flat offset to the result.
    spectrum = np.fft.fft2(grey - grey.mean())
    amplitude = np.abs(spectrum)
    # Flat-coloured graphics have exact spectral zeros; unfloored, their
    # log spikes turn the residual into a periodic comb all over the image.
    # The floor sits below natural images' spectra (no change on OSIE).
    log_amplitude = np.log(amplitude + SPECTRAL_FLOOR * amplitude.mean())
    # The spectrum is periodic, so the 3x3 average wraps around.
    local_mean = sum(
        np.roll(log_amplitude, (dy, dx), axis=(0, 1)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
    ) / 9.0
    residual = np.exp(log_amplitude - local_mean + 1j * np.angle(spectrum))
    saliency = np.abs(np.fft.ifft2(residual)) ** 2
    blur_y = _gaussian_matrix(grey.shape[0], blur_sigma)
    blur_x = _gaussian_matrix(grey.shape[1], blur_sigma)
    saliency = blur_y @ saliency @ blur_x.T
    return saliency / saliency.max()


def predict_saliency_spectral(image: np.ndarray) -> np.ndarray:
    """Saliency map of ``image`` (HxW, HxWx3 or HxWx4), HxW float32, max 1.

    A constant image yields the centre prior alone.
    """
    grey = _greyscale(image)
    height, width = grey.shape
    if height == 0 or width == 0:
        raise ValueError("image must not be empty")
    work = resize_map(grey, *_work_shape(height, width))
    residual = resize_map(spectral_residual(work), height, width)
    # The prior is drawn at full size so a flat image gets it exactly.
    blend = (1 - CENTRE_WEIGHT) * residual + CENTRE_WEIGHT * centre_bias_map(height, width)
    blend = np.clip(blend, 0.0, None)
    return (blend / blend.max()).astype(np.float32)
