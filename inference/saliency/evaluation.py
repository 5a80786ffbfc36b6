"""Scoring a saliency model on a fixation dataset with the MIT benchmark metrics, next to the
centre-bias baseline, image by image at each image's own size."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from inference.saliency.data import Sample, dataset_samples, read_grey, read_rgb, split_samples
from inference.saliency.metrics import auc_judd, auc_shuffled, cc, centre_bias_map, kld, nss, sim

METRICS = ("AUC-Judd", "sAUC", "NSS", "CC", "KLD", "SIM")


def _fixation_points(fixations: np.ndarray) -> np.ndarray:
    """(n, 2) fixation positions as fractions of the image's height and width."""
    ys, xs = np.nonzero(fixations > 0)
    return np.stack([(ys + 0.5) / fixations.shape[0], (xs + 0.5) / fixations.shape[1]], axis=1)


def _other_fixations(points: list[np.ndarray], skip: int, shape: tuple[int, int]) -> np.ndarray:
    """Binary map of every other image's fixations, placed at the same relative positions."""
    others = np.concatenate([p for i, p in enumerate(points) if i != skip])
    mask = np.zeros(shape, dtype=bool)
    mask[(others[:, 0] * shape[0]).astype(int), (others[:, 1] * shape[1]).astype(int)] = True
    return mask


def scores(sal: np.ndarray, density: np.ndarray, fixations: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """The six MIT metrics of one prediction against one image's ground truth."""
    return {
        "AUC-Judd": auc_judd(sal, fixations),
        "sAUC": auc_shuffled(sal, fixations, other),
        "NSS": nss(sal, fixations),
        "CC": cc(sal, density),
        "KLD": kld(sal, density),
        "SIM": sim(sal, density),
    }


def evaluate_saliency(
    dataset_dir: Path,
    predict: Callable[[np.ndarray], np.ndarray],
    split: str = "val",
    progress: bool = False,
) -> tuple[dict[str, dict[str, float]], int]:
    """({"model": {metric: mean}, "centre": {metric: mean}}, number of images) over a split.

    Shuffled AUC takes as negatives the fixations of all other images of the split.
    """
    samples: list[Sample] = split_samples(dataset_samples(dataset_dir), split)
    truths = []
    for sample in samples:
        rgb = read_rgb(sample.image)
        truths.append((rgb, read_grey(sample.density, rgb.shape[:2]), read_grey(sample.fixations, rgb.shape[:2])))
    points = [_fixation_points(fixations) for _, _, fixations in truths]
    per_image: dict[str, list[dict[str, float]]] = {"model": [], "centre": []}
    for i, (rgb, density, fixations) in enumerate(
        tqdm(truths, desc=f"Evaluating {Path(dataset_dir).name}/{split}", unit="img", disable=not progress)
    ):
        other = _other_fixations(points, i, fixations.shape)
        per_image["model"].append(scores(predict(rgb), density, fixations, other))
        per_image["centre"].append(scores(centre_bias_map(*fixations.shape), density, fixations, other))
    means = {
        name: {metric: float(np.nanmean([row[metric] for row in rows])) for metric in METRICS}
        for name, rows in per_image.items()
    }
    return means, len(samples)
