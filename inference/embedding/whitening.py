"""Supervised whitening (Radenović et al., TPAMI 2019), pure numpy: the linear map to D' dims that
whitens what varies within a class and keeps the directions along which classes differ most.

Two uses: the start of the ArcFace head (inference.embedding.arcface: classes are species), and the
default embedder's projection learned without labels (inference.embedding.view_whitening: every
training photo is its own class, its simulated re-shoots the members), i.e. the directions that
survive re-framing, exposure, rotation and JPEG, weighted by how much they tell photos apart.
"""

from __future__ import annotations

import numpy as np


def supervised_whitening(samples: np.ndarray, labels: np.ndarray, dim: int, shrinkage: float,
                         power: float = 0.0) -> np.ndarray:
    """(D, dim) projection: whiten the within-class covariance, then the top-dim between-class axes.

    ``samples`` are centred. Shrinkage adds ``shrinkage * largest eigenvalue`` before whitening, so
    directions with almost no within-class variance (noise, or too few photos) are not blown up.
    ``power`` scales each kept axis by its (between / within) variance ratio to that power: 0 leaves
    the within-class scatter white, 0.5 gives the more telling axes more weight in the cosine.
    """
    samples = samples.astype(np.float64)
    classes, index = np.unique(labels, return_inverse=True)
    counts = np.bincount(index, minlength=len(classes)).astype(np.float64)
    class_means = np.zeros((len(classes), samples.shape[1]))
    np.add.at(class_means, index, samples)
    class_means /= counts[:, None]
    within = samples - class_means[index]
    values, vectors = np.linalg.eigh(within.T @ within / len(within))
    values = np.maximum(values, 0.0)
    whitening = vectors / np.sqrt(values + shrinkage * values.max())
    whitened = samples @ whitening
    # Within-class scatter is now (near) isotropic, so the total variance ranks the between-class one.
    ratios, between_vectors = np.linalg.eigh(whitened.T @ whitened / len(whitened))
    order = np.argsort(ratios)[::-1][:dim]  # eigh sorts ascending
    return whitening @ between_vectors[:, order] * np.maximum(ratios[order], 0.0) ** power
