"""Saliency models behind one small interface, and loading the configured one safely.

``SaliencyModel.predict`` takes a photo of any size and shape (HxW grey, HxWx3 RGB, HxWx4 RGBA)
and returns an HxW float32 map in [0, 1] of the photo's own size. Models:

* ``msinet-lite0`` (default): MSI-Net design on EfficientNet-Lite0, trained by this project
  (weights in inference/weights/, see the README there).
* ``msinet-vgg16``: the authors' SALICON-trained MSI-Net, a TensorFlow SavedModel installed by
  ``manage.py fetch_models msinet-vgg16`` (or any SavedModel with the same interface).
* ``spectral``: the training-free spectral-residual model, the fallback of last resort.

Speed of msinet-lite0 on a 240x320 photo, 2 CPU cores, median ms of 30 network runs (two runs,
each with another training job on the machine, so +-20 %; the encoder alone took 23-25 ms):

=====================================  ===========  ==============
ASPP width / decoder widths (stride)   ms           head params
=====================================  ===========  ==============
64 / (32,) (stride 4)                  30, 45       0.92 M
64 / (32, 16) (stride 2, used)         43, 46       0.92 M
96 / (48, 24) (stride 2)               53, 43       1.42 M
128 / (64, 32) (stride 2)              67, 72       1.93 M
=====================================  ===========  ==============

The paper's widths (256 / 128, 64, 32 to stride 1) were not run: their three 3x3 ASPP branches on
the 472 concatenated Lite0 channels at 30x40 are ~3.9 G multiply-adds, about six times the whole
Lite0 encoder at this size.
The 64- and 96-wide heads differ by less than the noise; 128 costs ~25 ms more. Stride 2 keeps maps
sharp enough for crops of small photos; the last x2 is the bilinear resize back to the photo.
End to end (canvas fit, network, crop and resize back) see bench/saliency.py.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np

from inference.saliency.canvas import from_canvas, to_canvas
from inference.versions import DEFAULT_SALIENCY_MODEL, SALIENCY_VERSIONS

logger = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
LITE0_HEAD_WEIGHTS = WEIGHTS_DIR / "msinet-lite0" / "head.f16.npz"

#: The authors' pre-processing pads with zeros (tf.pad) on an input in 0..255.
VGG16_PAD_VALUE = 0


class SaliencyModel(Protocol):
    version: str

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """HxW float32 map in [0, 1], the size of ``rgb`` (HxW, HxWx3 or HxWx4)."""


class SaliencyModelError(RuntimeError):
    """A saliency model's files are missing, corrupt or have the wrong interface."""


def _unit_max(saliency: np.ndarray) -> np.ndarray:
    saliency = np.clip(saliency, 0.0, None)
    peak = saliency.max()
    return (saliency / peak if peak > 0 else np.ones_like(saliency)).astype(np.float32)


class SpectralSaliency:
    version = SALIENCY_VERSIONS["spectral"]

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        from inference.saliency.spectral import predict_saliency_spectral

        return predict_saliency_spectral(rgb)


class Lite0Saliency:
    """MSI-Net on EfficientNet-Lite0: ImageNet encoder (from the Lite0 package, cached in
    ``cache_dir``) and the head this project trained (``weights``)."""

    version = SALIENCY_VERSIONS["msinet-lite0"]

    def __init__(self, cache_dir: Path, weights: Path = LITE0_HEAD_WEIGHTS) -> None:
        import tensorflow as tf

        from inference.embedding.backbone import preprocess
        from inference.saliency.msinet import (
            build_lite0_head,
            build_msinet_lite0,
            head_weights_load,
            lite0_encoder_load,
        )

        weights = Path(weights)
        if not weights.is_file():
            raise SaliencyModelError(f"saliency weights not found: {weights}")
        head = build_lite0_head()
        try:
            head_weights_load(head, weights)
        except (OSError, ValueError, KeyError) as exc:
            raise SaliencyModelError(f"cannot load saliency weights {weights}: {exc}") from exc
        model = build_msinet_lite0(head, lite0_encoder_load(cache_dir))
        self._preprocess = preprocess

        @tf.function(input_signature=[tf.TensorSpec((1, None, None, 3), tf.float32)])
        def forward(batch: tf.Tensor) -> tf.Tensor:
            logits = model(batch, training=False)[0, ..., 0]
            # exp(logit - max): the predicted distribution scaled to peak 1.
            return tf.exp(logits - tf.reduce_max(logits))

        self._forward = forward

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        canvas, place = to_canvas(rgb)
        saliency = self._forward(self._preprocess(canvas[None])).numpy()
        return _unit_max(from_canvas(saliency, place, *np.shape(rgb)[:2]))


class SavedModelSaliency:
    """An MSI-Net TensorFlow SavedModel with the authors' interface: ``serving_default`` maps one
    float32 (1, H, W, 3) RGB image in 0..255 to one (1, H, W, 1) map."""

    version = SALIENCY_VERSIONS["msinet-vgg16"]

    def __init__(self, path: Path) -> None:
        # The loaded object owns the signature's variables: keep it alive with the signature.
        self._loaded, self._signature, self._input_name = savedmodel_signature_load(Path(path))

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        canvas, place = to_canvas(rgb, pad_value=VGG16_PAD_VALUE)
        outputs = self._signature(**{self._input_name: tf.constant(canvas[None], tf.float32)})
        saliency = next(iter(outputs.values())).numpy()[0, ..., 0]
        return _unit_max(from_canvas(saliency, place, *np.shape(rgb)[:2]))


def savedmodel_signature_load(path: Path):
    """(loaded SavedModel, its serving_default function, that function's input name), checked
    structurally.

    Raises SaliencyModelError naming the directory when it is missing, unreadable, or its
    signature is not one rank-4 3-channel float input to one rank-4 1-channel output.
    """
    import tensorflow as tf

    if not (path / "saved_model.pb").is_file():
        raise SaliencyModelError(f"no SavedModel at {path} (saved_model.pb missing)")
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:  # TF raises many types for a corrupt SavedModel
        raise SaliencyModelError(f"cannot load SavedModel {path}: {type(exc).__name__}: {exc}") from exc
    signature = loaded.signatures.get("serving_default")
    if signature is None:
        raise SaliencyModelError(f"SavedModel {path} has no 'serving_default' signature")
    inputs = signature.structured_input_signature[1]
    outputs = signature.structured_outputs
    if len(inputs) != 1 or len(outputs) != 1:
        raise SaliencyModelError(
            f"SavedModel {path}: 'serving_default' must have one input and one output, "
            f"has inputs {sorted(inputs)} and outputs {sorted(outputs)}"
        )
    (input_name, spec), (output_spec,) = next(iter(inputs.items())), outputs.values()
    if spec.dtype != tf.float32 or spec.shape.rank != 4 or spec.shape[-1] != 3:
        raise SaliencyModelError(f"SavedModel {path}: input {input_name} is {spec}, expected float32 (N, H, W, 3)")
    if output_spec.shape.rank != 4 or output_spec.shape[-1] != 1:
        raise SaliencyModelError(f"SavedModel {path}: output is {output_spec}, expected (N, H, W, 1)")
    return loaded, signature, input_name


def saliency_model_build(name: str, *, cache_dir: Path, vgg16_path: Path | None = None) -> SaliencyModel:
    """The named model; SaliencyModelError (naming the file) when it cannot be loaded."""
    if name == "msinet-lite0":
        return Lite0Saliency(cache_dir)
    if name == "msinet-vgg16":
        if vgg16_path is None:
            raise SaliencyModelError("msinet-vgg16 needs SALIENCY_VGG16_PATH")
        return SavedModelSaliency(vgg16_path)
    if name == "spectral":
        return SpectralSaliency()
    raise SaliencyModelError(f"unknown saliency model {name!r}; choose one of {sorted(SALIENCY_VERSIONS)}")


def saliency_model_load(name: str, *, cache_dir: Path, vgg16_path: Path | None = None) -> SaliencyModel:
    """The model called ``name``, or if it is broken the default, or if that is broken too the
    training-free spectral model: the worker keeps serving, and the log says which file failed."""
    chain = [name] + [n for n in (DEFAULT_SALIENCY_MODEL, "spectral") if n != name]
    for i, candidate in enumerate(chain):
        try:
            return saliency_model_build(candidate, cache_dir=cache_dir, vgg16_path=vgg16_path)
        except SaliencyModelError as exc:
            logger.error("saliency model %s unavailable, falling back to %s: %s", candidate, chain[i + 1], exc)
    raise AssertionError("unreachable: the spectral model needs no files")
