"""One photo in, everything search needs out: saliency, the salient crop, vectors, overlay.

Pure: numpy in, numpy out, no Django. Workers, management commands and benchmarks all call
``Pipeline.analyze`` so that what is measured is what is served.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inference.embedding.embedder import Embedder
from inference.images import saliency_crop_box
from inference.saliency.models import saliency_model_load
from inference.stages import StageClock
from inference.versions import DEFAULT_EMBEDDING_MODEL, DEFAULT_SALIENCY_MODEL


@dataclass(frozen=True)
class PhotoAnalysis:
    saliency: np.ndarray  # HxW float32 in [0, 1], the size of the photo that was analysed
    crop_box: tuple[int, int, int, int]  # (left, top, right, bottom) in that photo's pixels
    whole_vector: np.ndarray  # (D,) unit norm
    crop_vector: np.ndarray  # (D,) unit norm
    vector: np.ndarray  # (D,) unit norm: what search ranks by
    timings_ms: dict[str, float] = field(default_factory=dict)


def tensorflow_threads_set(threads: int) -> None:
    """Cap the threads TensorFlow uses in this process (0: leave TensorFlow's default, all cores).

    Must run before the first model is built: TensorFlow fixes its thread pools when its runtime
    starts. One thread per process with one process per core measured fastest for ingest
    (bench/ingest.py): the models are small, so threads mostly wait on each other.
    """
    if threads <= 0:
        return
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def fuse_vectors(whole: np.ndarray, crop: np.ndarray, *, crop_weight: float = 0.5) -> np.ndarray:
    """Search vector: the normalised weighted mean of the whole-photo and salient-crop vectors.

    For unit vectors, cosine similarity to this mean ranks by the weighted mean of the two cosines.
    Each embedder measured its own weight (``Embedder.crop_weight``; see its docstring).
    """
    fused = (1.0 - crop_weight) * whole + crop_weight * crop
    norm = np.linalg.norm(fused, axis=-1, keepdims=True)
    return (fused / np.maximum(norm, 1e-12)).astype(np.float32)


class Pipeline:
    def __init__(self, cache_dir: Path, *, saliency_model: str = DEFAULT_SALIENCY_MODEL,
                 saliency_vgg16_path: Path | None = None, embedding_head: Path | str | None = None,
                 embedding_model: str = DEFAULT_EMBEDDING_MODEL):
        """The models to run, chosen by the caller (the worker passes its settings: inference.
        configuration). saliency_model: a name in inference.versions.SALIENCY_VERSIONS, with the
        VGG16 SavedModel's directory for msinet-vgg16; embedding_head: a trained head file, None
        for the ``embedding_model`` (a name in inference.versions.EMBEDDING_VERSIONS)."""
        self.embedder = Embedder(cache_dir, head=embedding_head, model=embedding_model)
        # The chosen saliency model, or the fallback that loaded if it is broken (logged).
        self.saliency_model = saliency_model_load(saliency_model, cache_dir=cache_dir, vgg16_path=saliency_vgg16_path)
        self.version = f"{self.saliency_model.version}+{self.embedder.version}"

    def saliency(self, rgb: np.ndarray) -> np.ndarray:
        return self.saliency_model.predict(rgb)

    def embed(self, photos: list[np.ndarray]) -> np.ndarray:
        """Whole-photo vectors (no saliency, no crop)."""
        return self.embedder.embed(photos)

    def analyze(self, rgb: np.ndarray, *, clock: StageClock | None = None) -> PhotoAnalysis:
        """Saliency, the salient crop and the vectors of one photo; the stages' wall and CPU
        milliseconds go to ``clock`` (and to ``timings_ms``)."""
        own = StageClock()
        with own.stage("saliency"):
            saliency = self.saliency(rgb)
        with own.stage("crop"):
            left, top, right, bottom = saliency_crop_box(saliency)
        with own.stage("embed"):
            # The whole photo and its crop in one batch: one model call per photo.
            whole, crop = self.embedder.embed([rgb], crops=[rgb[top:bottom, left:right]])
        if clock is not None:
            clock.merge(own)
        return PhotoAnalysis(
            saliency=saliency,
            crop_box=(left, top, right, bottom),
            whole_vector=whole,
            crop_vector=crop,
            vector=fuse_vectors(whole, crop, crop_weight=self.embedder.crop_weight),
            timings_ms=own.timings_ms(),
        )
