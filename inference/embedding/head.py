"""A trained 128-D embedding head as it is served: one affine map, stored as float16 numpy.

The embedder computes ``l2_normalise(head_input(x) @ kernel + bias)`` on the 1280-D pooled Lite0
features x, where ``head_input`` is power normalisation (element-wise square root, then L2): pooled
ReLU6 activations are bursty, and the square root keeps a few large channels from dominating the
cosine (+0.01 to 0.02 mAP in each variant measured on flowers102; see
inference/weights/flowers102-arcface/README.md). Training (inference.embedding.arcface) folds the
centring into ``bias``. No Keras format is involved, so a head file stays readable by any version
of the stack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HEAD_FORMAT = "lite0-sqrt-l2-affine-head-v1"
#: The crop weight every head was served with before head files recorded their own.
LEGACY_CROP_WEIGHT = 0.5


def head_input(features: np.ndarray) -> np.ndarray:
    """Power-normalised features: sqrt (they are >= 0 after ReLU6 and pooling), then unit L2 norm."""
    rooted = np.sqrt(np.maximum(np.asarray(features, dtype=np.float32), 0.0))
    return rooted / np.maximum(np.linalg.norm(rooted, axis=-1, keepdims=True), 1e-12)


class HeadFileError(ValueError):
    """A head file that is missing, malformed, or made for other features."""


@dataclass(frozen=True)
class EmbeddingHead:
    kernel: np.ndarray  # (1280, dim) float32
    bias: np.ndarray  # (dim,) float32
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def crop_weight(self) -> float:
        """Weight of the salient crop in the fused search vector, as train_embedder recorded it; a
        head file without one (every head before --crop-weight) keeps the 0.5 it was served with."""
        return float(self.meta.get("crop_weight", LEGACY_CROP_WEIGHT))

    @property
    def mirror_whole_photo(self) -> bool:
        """Trained on views averaged with their mirror image's (train_embedder --mirror-average), so
        served so too: the embedder averages a whole photo's pooled features with its mirror image's.
        A head file without the flag (every head before it) is served as it always was."""
        return bool(self.meta.get("mirror_whole_photo", False))

    def project(self, features: np.ndarray) -> np.ndarray:
        """(N, 1280) features -> (N, dim) unit vectors, exactly as the embedder serves them."""
        out = head_input(features) @ self.kernel + self.bias
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def save(self, path: Path) -> None:
        """float16 weights (half the size; cosine rankings do not change at that precision)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            np.savez(
                handle,
                kernel=self.kernel.astype(np.float16),
                bias=self.bias.astype(np.float16),
                meta=np.array(json.dumps({"format": HEAD_FORMAT, **self.meta}, sort_keys=True)),
            )


def head_load(path: Path | str, input_dim: int, dim: int) -> EmbeddingHead:
    """Read a head file written by EmbeddingHead.save, checking it fits (input_dim -> dim)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            kernel, bias = data["kernel"].astype(np.float32), data["bias"].astype(np.float32)
            meta = json.loads(str(data["meta"]))
    except (OSError, KeyError, ValueError) as exc:
        raise HeadFileError(f"{path}: not an embedding head file ({exc})") from exc
    if meta.get("format") != HEAD_FORMAT:
        raise HeadFileError(f"{path}: format {meta.get('format')!r}, expected {HEAD_FORMAT!r}")
    if kernel.shape != (input_dim, dim) or bias.shape != (dim,):
        raise HeadFileError(f"{path}: kernel {kernel.shape} and bias {bias.shape}, expected ({input_dim}, {dim})")
    if not (np.isfinite(kernel).all() and np.isfinite(bias).all()):
        raise HeadFileError(f"{path}: weights are not finite")
    return EmbeddingHead(kernel, bias, meta)
