"""Training the Lite0 MSI-Net head on fixation datasets, on CPU in well under an hour.

The ImageNet encoder stays frozen, so its features are deterministic: they are computed once per
image (and once for its mirror image, for horizontal-flip augmentation) and cached in the run
folder; training then runs ASPP and the decoder only. Each epoch writes a checkpoint (weights,
optimizer state, epoch) that ``train_saliency`` resumes from.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from inference.embedding.backbone import preprocess
from inference.saliency.canvas import map_to_canvas, to_canvas
from inference.saliency.data import dataset_samples, read_grey, read_rgb, split_samples
from inference.saliency.msinet import (
    build_lite0_head,
    head_weights_save,
    kld_loss,
    lite0_encoder_load,
    spatial_log_softmax,
)

#: The head predicts at stride 2 (two x2 decoder steps after stride 8).
OUTPUT_STRIDE = 2
CHECKPOINT_NAME = "checkpoint.npz"
FINAL_WEIGHTS_NAME = "msinet_lite0_head.f16.npz"


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 12
    batch_size: int = 8
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0


def _feature_cache(
    encoder: Callable[[], keras.Model], directory: Path, split: str, cache_dir: Path, progress: bool
) -> Path:
    """Cache the frozen encoder's features and the target densities of one dataset split.

    Per canvas shape: s8/s16/s32 features (float16) and targets at the output size, each for
    the image and its mirror image (index 0 and 1 of the second axis).
    """
    path = cache_dir / f"features-{directory.name}-{split}.npz"
    if path.is_file():
        return path
    model = encoder()
    run = tf.function(lambda x: model(x, training=False))
    groups: dict[tuple[int, int], dict[str, list]] = {}
    samples = split_samples(dataset_samples(directory), split)
    for sample in tqdm(samples, desc=f"Features {directory.name}/{split}", unit="img", disable=not progress):
        rgb = read_rgb(sample.image)
        density = read_grey(sample.density, rgb.shape[:2]).astype(np.float32)
        canvas, place = to_canvas(rgb)
        out_shape = (place.canvas[0] // OUTPUT_STRIDE, place.canvas[1] // OUTPUT_STRIDE)
        target = map_to_canvas(density, place, out_shape)
        batch = preprocess(np.stack([canvas, canvas[:, ::-1]]))
        s8, s16, s32 = (f.numpy().astype(np.float16) for f in run(tf.constant(batch)))
        group = groups.setdefault(place.canvas, {"s8": [], "s16": [], "s32": [], "target": []})
        group["s8"].append(s8)
        group["s16"].append(s16)
        group["s32"].append(s32)
        group["target"].append(np.stack([target, target[:, ::-1]])[..., None])
    arrays = {f"{h}x{w}/{k}": np.stack(v) for (h, w), g in groups.items() for k, v in g.items()}
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.rename(path)
    return path


def _load_groups(paths: list[Path]) -> list[dict[str, np.ndarray]]:
    """One dict of arrays per (file, canvas shape) group."""
    groups = []
    for path in paths:
        with np.load(path) as stored:
            keys = {k.split("/")[0] for k in stored.files}
            groups.extend({name: stored[f"{key}/{name}"] for name in ("s8", "s16", "s32", "target")}
                          for key in sorted(keys))
    return groups


def _batches(groups, batch_size: int, rng: np.random.Generator, flip: bool):
    """Shuffled batches, each from one canvas shape; with ``flip`` each image is mirrored at random."""
    plan = []
    for g, group in enumerate(groups):
        order = rng.permutation(len(group["target"])) if flip else np.arange(len(group["target"]))
        plan.extend((g, order[i : i + batch_size]) for i in range(0, len(order), batch_size))
    if flip:
        plan = [plan[i] for i in rng.permutation(len(plan))]
    for g, idx in plan:
        side = rng.integers(0, 2, len(idx)) if flip else np.zeros(len(idx), dtype=int)
        group = groups[g]
        yield [group[k][idx, side].astype(np.float32) for k in ("s8", "s16", "s32")], group["target"][idx, side]


def _cc(target: np.ndarray, log_pred: np.ndarray) -> np.ndarray:
    """Per-image Pearson correlation at output resolution (a quick proxy during training)."""
    a = target.reshape(len(target), -1)
    b = np.exp(log_pred).reshape(len(target), -1)
    a = (a - a.mean(1, keepdims=True)) / (a.std(1, keepdims=True) + 1e-12)
    b = (b - b.mean(1, keepdims=True)) / (b.std(1, keepdims=True) + 1e-12)
    return (a * b).mean(1)


def train_saliency(
    datasets: list[Path],
    out_dir: Path,
    model_cache_dir: Path,
    config: TrainConfig = TrainConfig(),
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Train the Lite0 head on the train split of ``datasets``; returns the float16 weights file.

    Resumes from ``out_dir/checkpoint.npz`` when present. Validation loss and CC (output
    resolution) on the val split are logged after every epoch to ``out_dir/history.jsonl``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    log(f"devices: {[d.name for d in tf.config.list_logical_devices()]}")
    encoder = functools.cache(lambda: lite0_encoder_load(model_cache_dir))  # not needed on resume
    train_paths = [_feature_cache(encoder, Path(d), "train", out_dir, progress) for d in datasets]
    val_paths = [_feature_cache(encoder, Path(d), "val", out_dir, progress) for d in datasets]
    train, val = _load_groups(train_paths), _load_groups(val_paths)
    n_train = sum(len(g["target"]) for g in train)
    steps_per_epoch = sum(-(-len(g["target"]) // config.batch_size) for g in train)
    log(f"train images: {n_train}, val images: {sum(len(g['target']) for g in val)}")

    keras.utils.set_random_seed(config.seed)
    head = build_lite0_head()
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, config.epochs * steps_per_epoch)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)
    optimizer.build(head.trainable_variables)

    checkpoint = out_dir / CHECKPOINT_NAME
    start_epoch = 0
    if checkpoint.is_file():
        with np.load(checkpoint) as stored:
            for i, var in enumerate(head.weights):
                var.assign(stored[f"model/{i}"])
            for i, var in enumerate(optimizer.variables):
                var.assign(stored[f"opt/{i}"])
            start_epoch = int(stored["epoch"])
        log(f"resumed from {checkpoint} after epoch {start_epoch}")

    @tf.function  # one trace per canvas shape: oneDNN fails on the conv gradients of a shape-generic trace
    def train_step(s8, s16, s32, target):
        with tf.GradientTape() as tape:
            loss = kld_loss(target, head([s8, s16, s32], training=True))
        variables = head.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    @tf.function  # one trace per canvas shape: oneDNN fails on the conv gradients of a shape-generic trace
    def val_step(s8, s16, s32, target):
        logits = head([s8, s16, s32], training=False)
        return kld_loss(target, logits), spatial_log_softmax(logits)

    history = out_dir / "history.jsonl"
    for epoch in range(start_epoch, config.epochs):
        started = time.perf_counter()
        rng = np.random.default_rng(config.seed + epoch)
        losses = []
        bar = tqdm(_batches(train, config.batch_size, rng, flip=True), total=steps_per_epoch,
                   desc=f"Epoch {epoch + 1}/{config.epochs}", unit="batch", disable=not progress)
        for features, target in bar:
            losses.append(float(train_step(*features, target)))
            bar.set_postfix(kld=f"{np.mean(losses):.3f}")
        val_losses, val_cc = [], []
        for features, target in _batches(val, config.batch_size, rng, flip=False):
            loss, log_pred = val_step(*features, target)
            val_losses += [float(loss)] * len(target)
            val_cc += list(_cc(target, log_pred.numpy()))
        record = {"epoch": epoch + 1, "train_kld": float(np.mean(losses)), "val_kld": float(np.mean(val_losses)),
                  "val_cc_output_res": float(np.mean(val_cc)), "seconds": round(time.perf_counter() - started, 1)}
        log(json.dumps(record))
        with history.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        arrays = {f"model/{i}": v.numpy() for i, v in enumerate(head.weights)}
        arrays |= {f"opt/{i}": v.numpy() for i, v in enumerate(optimizer.variables)}
        tmp = out_dir / "checkpoint.tmp.npz"
        np.savez(tmp, epoch=epoch + 1, **arrays)
        tmp.rename(checkpoint)  # atomic: an interrupted save never leaves half a checkpoint

    final = out_dir / FINAL_WEIGHTS_NAME
    head_weights_save(head, final)
    log(f"wrote {final}")
    return final
