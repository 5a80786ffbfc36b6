"""The default embedder's 128-D projection, learned without labels: view whitening.

Every training photo is its own class and its simulated re-shoots (inference.embedding.shots:
re-framing, zoom, exposure, tilt, quarter turns, JPEG, mirror) are the class's members. Supervised
whitening (inference.embedding.whitening) then whitens what changes between shots of one photo and
keeps the 128 directions along which photos differ most relative to that: what survives
re-shooting a scene, which is what "similar photos" must match. It is served exactly like a
trained head (inference.embedding.head: power-normalised 1280-D Lite0 features, one affine map,
float16), so no second serving path exists. `manage.py train_view_whitening` writes it;
inference.embedding.embedder says what was measured.
"""

from __future__ import annotations

import numpy as np

from inference.embedding.head import EmbeddingHead, head_input
from inference.embedding.shots import scene_shot
from inference.embedding.whitening import supervised_whitening


def shot_view(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A training view: a simulated re-shoot (mirrored half the time)."""
    return scene_shot(rgb, rng, mirror=True)


def view_whitening_fit(features: np.ndarray, *, dim: int, shrinkage: float, meta: dict) -> EmbeddingHead:
    """(N photos, V views, 1280) pooled Lite0 features -> the (1280 -> dim) projection as a head."""
    photos, views, channels = features.shape
    samples = head_input(features.reshape(-1, channels)).astype(np.float64)
    mean = samples.mean(axis=0)
    kernel = supervised_whitening(samples - mean, np.repeat(np.arange(photos), views), dim, shrinkage)
    # Whitened outputs are large; rescale to unit norm on average so float16 keeps them well.
    kernel /= np.sqrt(np.mean(np.sum(((samples - mean) @ kernel) ** 2, axis=1)))
    return EmbeddingHead(kernel.astype(np.float32), (-mean @ kernel).astype(np.float32), meta)
