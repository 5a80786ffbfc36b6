"""128-D image embeddings for similarity search: EfficientNet-Lite0 features, projected to 128-D.

Two projections of the 1280-D pooled features, then L2-normalisation:

* the default, data-free projection below, for any photo (cats, streets, faces, flowers);
* a trained ArcFace head (inference.embedding.arcface; served as in inference.embedding.head), an
  option a site enables with the EMBEDDING_HEAD setting when its photos are of one domain, e.g.
  the flowers head in inference/weights/flowers102-arcface/. Its version includes the head file's
  hash, so enabling it is a rollout.

Data-free projection (chosen by measurement, no training data involved): the 1280-D pooled features are
``mean(relu6(BN(W_head x)))`` with x the 320-D output of the last block, so their variation is
driven by the 320-D column space of the BN-scaled head conv ``diag(gamma / sqrt(var + eps)) W_head``.
We project onto its top-128 left singular vectors (signs fixed so the largest entry of each is
positive), without centring, then L2-normalise.

Measured with leave-one-out retrieval, cosine similarity, squash-resize, on flowers102
(/work/shared/data/flowers102, the Udacity training split as shipped; R@1 / mAP):

=====================================================  ============  ============
projection to 128-D                                     10 classes     59 classes
                                                        (first ten,    (all, 2993
                                                        475 images)    images)
=====================================================  ============  ============
none (full 1280-D, reference)                           0.973/0.795   0.868/0.512
seeded random orthogonal (mean of 5 seeds)              0.946/0.741   0.816/0.437
top-128 right singular vectors of ImageNet classifier   0.956/0.710   0.796/0.404
  ... centred on the BN-implied feature mean            0.960/0.711   0.796/0.406
top-128 left singular vectors of BN-scaled head (used)  0.949/0.768   0.834/0.461
=====================================================  ============  ============

The classifier subspace is the worst choice: it keeps what separates ImageNet classes, and
flowers102 has few of them. Centring (BN-implied or the classifier's zero-logit point), singular-value
weighting and sqrt features changed mAP by < 0.01 or lowered it. Centre-crop instead of squash scored
the same on 59 classes (0.836/0.461), so we squash the whole frame: an off-centre subject or a
crop of a wide photo keeps all its content.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from inference.embedding.backbone import HEAD_CHANNELS, INPUT_SIZE, load_lite0, preprocess
from inference.embedding.head import head_load
from inference.images import squash_resize
from inference.versions import EMBEDDING_DIM, embedder_version


def head_subspace_projection(model: keras.Model, dim: int) -> np.ndarray:
    """(1280, dim) orthonormal basis of the top-dim left singular vectors of the BN-scaled head conv."""
    kernel = model.get_layer("head_conv").get_weights()[0][0, 0]  # (320, 1280)
    bn = model.get_layer("head_bn")
    gamma, _, _, variance = bn.get_weights()
    scaled = kernel.T.astype(np.float64) * (gamma / np.sqrt(variance + bn.epsilon))[:, None]
    basis = np.linalg.svd(scaled, full_matrices=False)[0][:, :dim]
    # SVD signs are arbitrary; pin them so vectors stay comparable across LAPACK builds.
    signs = np.sign(basis[np.abs(basis).argmax(axis=0), np.arange(dim)])
    return (basis * signs).astype(np.float32)


def resize_for_model(image: np.ndarray) -> np.ndarray:
    """The HxWx3 uint8 photo as the backbone reads it: the whole frame squashed to its input size."""
    return squash_resize(image, INPUT_SIZE)


def pooled_features_function(model: keras.Model) -> tf.types.experimental.PolymorphicFunction:
    """Traced (N, 224, 224, 3) normalised float32 -> (N, 1280) pooled features: no retracing per call."""

    @tf.function(input_signature=[tf.TensorSpec((None, INPUT_SIZE, INPUT_SIZE, 3), tf.float32)])
    def features(batch: tf.Tensor) -> tf.Tensor:
        return model(batch, training=False)

    return features


class Embedder:
    """Maps RGB photos to L2-normalised 128-D float32 vectors (cosine = dot product)."""

    dim: int = EMBEDDING_DIM

    def __init__(self, cache_dir: Path, head: Path | str | None = None) -> None:
        """head: a trained head file (EmbeddingHead.save); None or "" for the data-free projection."""
        model = load_lite0(cache_dir, include_top=False)
        self.version = embedder_version(head)
        if head:
            trained = head_load(head, HEAD_CHANNELS, self.dim)
            kernel, bias = tf.constant(trained.kernel), tf.constant(trained.bias)

            def project(features: tf.Tensor) -> tf.Tensor:  # EmbeddingHead.project, in TensorFlow
                rooted = tf.math.l2_normalize(tf.sqrt(tf.maximum(features, 0.0)), axis=1)
                return tf.matmul(rooted, kernel) + bias
        else:
            basis = tf.constant(head_subspace_projection(model, self.dim))

            def project(features: tf.Tensor) -> tf.Tensor:
                return tf.matmul(features, basis)

        # A traced function with a fixed signature: no per-call retracing or predict() overhead.
        @tf.function(input_signature=[tf.TensorSpec((None, INPUT_SIZE, INPUT_SIZE, 3), tf.float32)])
        def forward(batch: tf.Tensor) -> tf.Tensor:
            return tf.math.l2_normalize(project(model(batch, training=False)), axis=1)

        self._forward = forward

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 128) float32 unit vectors for N HxWx3 uint8 RGB images of any sizes."""
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        batch = preprocess(np.stack([resize_for_model(image) for image in images]))
        return self._forward(tf.constant(batch)).numpy()
