"""ArcFace (Deng et al., CVPR 2019): an additive angular margin classifier that trains a 128-D head.

Training only. The head, a linear map from the power-normalised, centred 1280-D Lite0 features to
128-D (then L2-normalised), learns to place photos of a class near that class's centre on the unit
sphere; the classifier, one centre per training class, is dropped afterwards and the head is
folded into one affine map (inference.embedding.head).

Logits are ``s * cos(theta_j)`` for every class j, except the photo's own class, which gets
``s * cos(theta_y + m)``: a photo must beat every other centre by an angle m to stop paying loss,
which makes classes compact and well separated in angle, exactly what cosine search needs.
The paper's defaults for face identities are m = 0.5, s = 64; we use m = 0.3, s = 30 (tens of
classes saturate the softmax at a lower scale).

Why the head starts from supervised whitening. Trained from a random start, the head fits the
training classes and loses to the raw 1280-D features on classes it never saw (flowers102 training
classes, 3 class-disjoint folds: mAP 0.73-0.77 against 0.78 for the raw features). Started from the
supervised whitening of Radenović et al. (TPAMI 2019) — whiten the within-class scatter, keep the
128 directions of largest between-class scatter — with each class centre at its mean embedding, it
scores 0.831 before and 0.836 after 10 epochs of ArcFace at learning rate 1e-4 (0.835 at 3e-4,
0.817 at 1e-3: larger steps overfit the training classes). No BatchNorm after the dense layer: it
equalised the variance of the 128 outputs, undoing the between-class weighting (-0.05 mAP).
Numbers and commands: inference/weights/flowers102-arcface/README.md.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from inference.embedding.head import EmbeddingHead

DEFAULT_MARGIN = 0.3
DEFAULT_SCALE = 30.0


class ArcFaceLogits(keras.layers.Layer):
    """Scaled cosine logits with the additive angular margin on each photo's own class."""

    def __init__(self, num_classes: int, margin: float = DEFAULT_MARGIN, scale: float = DEFAULT_SCALE, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.margin, self.scale = num_classes, margin, scale

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.centres = self.add_weight(
            name="centres", shape=(input_shape[-1], self.num_classes), initializer="glorot_uniform"
        )

    def call(self, embeddings: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        cosine = tf.matmul(tf.math.l2_normalize(embeddings, axis=1), tf.math.l2_normalize(self.centres, axis=0))
        cosine = tf.clip_by_value(cosine, -1.0 + 1e-7, 1.0 - 1e-7)
        sine = tf.sqrt(1.0 - tf.square(cosine))
        with_margin = cosine * math.cos(self.margin) - sine * math.sin(self.margin)  # cos(theta + m)
        # Past theta = pi - m, cos(theta + m) would rise again; use the paper's linear fallback there.
        fallback = cosine - math.sin(math.pi - self.margin) * self.margin
        with_margin = tf.where(cosine > math.cos(math.pi - self.margin), with_margin, fallback)
        own_class = tf.one_hot(labels, self.num_classes, dtype=cosine.dtype)
        return self.scale * (own_class * with_margin + (1.0 - own_class) * cosine)


def head_build(input_dim: int, dim: int, dropout: float, initial_kernel: np.ndarray) -> keras.Model:
    """Dropout, then dense input_dim -> dim without bias (inputs are centred); L2 happens at use."""
    inputs = keras.Input((input_dim,), name="features")
    x = keras.layers.Dropout(dropout, name="dropout")(inputs)
    dense = keras.layers.Dense(dim, use_bias=False, name="embedding")
    x = dense(x)
    dense.set_weights([initial_kernel.astype(np.float32)])
    return keras.Model(inputs, x, name="arcface_head")


def head_fold(head: keras.Model, mean: np.ndarray, meta: dict) -> EmbeddingHead:
    """Fold the centring into the bias: (x - mean) @ kernel = x @ kernel - mean @ kernel."""
    kernel = head.get_layer("embedding").get_weights()[0].astype(np.float64)
    return EmbeddingHead(kernel.astype(np.float32), (-mean.astype(np.float64) @ kernel).astype(np.float32), meta)
