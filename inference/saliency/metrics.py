"""MIT saliency benchmark metrics (Bylinskii et al., TPAMI 2018).

Ports of the MIT/Tuebingen benchmark's MATLAB code (``AUC_Judd.m``,
``AUC_shuffled.m``, ``NSS.m``, ``CC.m``, ``KLdiv.m``, ``similarity.m``) to
numpy. Conventions shared by every metric:

* ``sal`` is the predicted map; if its size differs from the ground truth it
  is resized (bilinear, Pillow) to the ground-truth size, as the MIT code does
  with ``imresize``.
* ``fixations`` are binary maps (bool, or 0/255 uint8): any value > 0 is a
  fixated pixel. ``density`` maps are continuous (float or 0..255 uint8).
* Degenerate inputs the MATLAB code turns into NaN through a 0/0 (a constant
  prediction) get the value that prediction deserves instead: a constant map
  carries no information, so NSS and CC are 0 and AUC-Judd is 0.5. Inputs
  with nothing to evaluate (no fixations, no negatives) still give NaN.
"""

from __future__ import annotations

import numpy as np

from inference.images import resize_map

#: MATLAB's ``eps``; the MIT KL code adds it to avoid log(0) and x/0.
EPS = 2.2204e-16

#: Centre-prior Gaussian sigma as a fraction of each image side. Tuned on
#: OSIE together with the spectral-residual blend (see ``spectral.py``).
CENTRE_SIGMA_FRACTION = 0.3


def centre_bias_map(
    height: int, width: int, *, sigma_fraction: float = CENTRE_SIGMA_FRACTION
) -> np.ndarray:
    """Centre-bias baseline: a Gaussian at the image centre, peak 1 (float32).

    The sigma is ``sigma_fraction`` of each side, so the blob is stretched
    to the image's aspect ratio like the benchmark's centre baseline.
    """
    ys = (np.arange(height) - (height - 1) / 2) / (sigma_fraction * height)
    xs = (np.arange(width) - (width - 1) / 2) / (sigma_fraction * width)
    # Separable: an outer product of 1-D Gaussians costs one multiply a pixel.
    return np.outer(np.exp(-0.5 * ys**2), np.exp(-0.5 * xs**2)).astype(np.float32)


def _prediction(sal: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Prediction as float64 at the ground-truth ``shape``."""
    if np.ndim(sal) != 2 or len(shape) != 2:
        raise ValueError("saliency and ground-truth maps must be 2-D")
    if np.shape(sal) == shape:
        return np.asarray(sal, dtype=np.float64)
    return resize_map(sal, shape[0], shape[1]).astype(np.float64)


def _fixation_mask(fixations: np.ndarray) -> np.ndarray:
    return np.asarray(fixations) > 0


def _standardise(values: np.ndarray) -> np.ndarray | None:
    """(x - mean) / std with MATLAB's N-1 std; None for a constant map."""
    # ptp, not std: the std of a constant array can be 1e-17 by rounding.
    if np.ptp(values) == 0:
        return None
    return (values - values.mean()) / values.std(ddof=1)


def _as_distribution(values: np.ndarray) -> np.ndarray:
    """Scale to sum 1 when there is any mass (the MIT ``if any(map)``)."""
    total = values.sum()
    return values / total if total > 0 else values


def auc_judd(sal: np.ndarray, fixations: np.ndarray) -> float:
    """AUC-Judd: ROC area, thresholds at the saliency of each fixated pixel.

    Tied saliency values share one threshold, where the MIT code breaks ties
    with random jitter: the score stays deterministic and a uniform map gets
    exactly 0.5. With distinct values it is the MIT curve point for point.
    """
    fix = _fixation_mask(fixations)
    s = _prediction(sal, fix.shape).ravel()
    fix = fix.ravel()
    n_fix, n_pix = int(fix.sum()), fix.size
    if n_fix == 0 or n_fix == n_pix:
        return float("nan")
    fixated = np.sort(s[fix])
    thresholds = np.unique(fixated)[::-1]
    fix_above = n_fix - np.searchsorted(fixated, thresholds, side="left")
    all_above = n_pix - np.searchsorted(np.sort(s), thresholds, side="left")
    tp = np.concatenate(([0.0], fix_above / n_fix, [1.0]))
    fp = np.concatenate(([0.0], (all_above - fix_above) / (n_pix - n_fix), [1.0]))
    return float(np.trapezoid(tp, fp))


def auc_shuffled(
    sal: np.ndarray,
    fixations: np.ndarray,
    other_fixations: np.ndarray,
    n_splits: int = 100,
    rng: np.random.Generator | int | None = 0,
    *,
    step_size: float = 0.1,
) -> float:
    """Shuffled AUC: fixations vs. fixations from other images (MIT sAUC).

    ``other_fixations`` is the union of other images' fixation maps, at the
    size of ``fixations``; using them as negatives cancels the centre bias
    that all images share. Each of ``n_splits`` splits draws as many
    negatives as there are fixations (all of them if fewer) without
    replacement; thresholds run from 0 up to the max in ``step_size`` steps
    on the min-max normalised map, as in the MIT code. Returns the mean
    over splits. ``rng`` is a Generator or a seed.
    """
    fix = _fixation_mask(fixations)
    if np.shape(other_fixations) != fix.shape:
        raise ValueError("other_fixations must have the fixation map's size")
    other = np.flatnonzero(_fixation_mask(other_fixations))
    s = _prediction(sal, fix.shape)
    span = s.max() - s.min()
    s = (s - s.min()) / span if span > 0 else np.zeros_like(s)
    fixated = s[fix]
    n_neg = min(fixated.size, other.size)
    if fixated.size == 0 or n_neg == 0:
        return float("nan")
    generator = np.random.default_rng(rng)
    # One row per split: a random subset of the other images' fixations.
    picks = generator.permuted(np.tile(other, (n_splits, 1)), axis=1)[:, :n_neg]
    negatives = s.ravel()[picks]  # (n_splits, n_neg)
    # MATLAB's 0:step:max, highest first; the slack absorbs float error.
    n_steps = int(np.floor(max(fixated.max(), negatives.max()) / step_size + 1e-9))
    thresholds = step_size * np.arange(n_steps, -1, -1)
    tp = (fixated[:, None] >= thresholds).mean(axis=0)  # (n_thresholds,)
    fp = (negatives[:, :, None] >= thresholds).mean(axis=1)  # (n_splits, n_thresholds)
    tp = np.concatenate(([0.0], tp, [1.0]))
    fp = np.concatenate((np.zeros((n_splits, 1)), fp, np.ones((n_splits, 1))), axis=1)
    return float(np.trapezoid(np.broadcast_to(tp, fp.shape), fp, axis=1).mean())


def nss(sal: np.ndarray, fixations: np.ndarray) -> float:
    """Normalised scanpath saliency: mean of the z-scored map at fixations."""
    fix = _fixation_mask(fixations)
    if not fix.any():
        return float("nan")
    z = _standardise(_prediction(sal, fix.shape))
    return 0.0 if z is None else float(z[fix].mean())


def cc(sal: np.ndarray, density: np.ndarray) -> float:
    """Pearson linear correlation between prediction and fixation density."""
    gt = np.asarray(density, dtype=np.float64)
    a, b = _standardise(_prediction(sal, gt.shape)), _standardise(gt)
    if a is None or b is None:
        return 0.0
    # Both are z-scored with N-1, so the correlation is the sum over N-1.
    return float((a * b).sum() / (a.size - 1))


def kld(sal: np.ndarray, density: np.ndarray) -> float:
    """KL divergence KL(density || prediction), both normalised to sum 1.

    Uses the MIT regularisation: sum(Q * log(eps + Q / (P + eps))).
    """
    gt = _as_distribution(np.asarray(density, dtype=np.float64))
    pred = _as_distribution(_prediction(sal, gt.shape))
    return float((gt * np.log(EPS + gt / (pred + EPS))).sum())


def sim(sal: np.ndarray, density: np.ndarray) -> float:
    """Similarity (histogram intersection) of the two maps as distributions.

    Each map is min-max normalised, then scaled to sum 1 (MIT
    ``similarity.m``); a constant map is taken as uniform.
    """
    gt = np.asarray(density, dtype=np.float64)
    maps = []
    for m in (_prediction(sal, gt.shape), gt):
        span = m.max() - m.min()
        maps.append(_as_distribution((m - m.min()) / span if span > 0 else m))
    return float(np.minimum(*maps).sum())
