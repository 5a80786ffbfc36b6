"""Train a 128-D ArcFace head on a folder of labelled photos (``DIR/<label>/*.jpg``), on CPU.

The backbone stays frozen, so its work is done once: every photo is decoded, turned into ``views``
224x224 crops (the whole frame as served, then random resized crops with flips and colour jitter)
and run through Lite0; training then only touches a (photos x views x 1280) cache, seconds per
epoch on two cores. The cache can be kept on disk between runs (``features_cache``).

Classes are split (seeded) into a training part and a class-disjoint validation part, the
metric-learning protocol: the README's metrics say how the recipe does on classes it never saw.
The shipped head is then refitted on all classes with the same recipe.

Bad input is never silently absorbed: empty classes, unreadable files and classes left with fewer
than two photos are skipped and listed (also in the README); fewer than two usable classes is an
error. Photos of any size or mode are fine: every view is resized to 224x224 like at serving time.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from inference.images import PHOTO_SUFFIXES, WORKING_MAX_SIDE, load_rgb, squash_resize

if TYPE_CHECKING:  # the backbone module imports Keras; this one must not, until features are needed
    from inference.embedding.backbone import LiteVariant

MIN_PHOTOS_PER_CLASS = 2  # one photo cannot be retrieved by another of its class
FEATURE_BATCH = 64

Log = Callable[[str], None]


class TrainingDataError(ValueError):
    """The folder cannot train a head (too few usable classes, not a folder ...)."""


@dataclass(frozen=True)
class TrainConfig:
    views: int = 6  # per photo: the whole frame + (views - 1) augmented crops
    epochs: int = 10
    batch_size: int = 256
    learning_rate: float = 1e-4  # fine-tuning from the whitening start; 1e-3 overfits (-0.02 mAP)
    margin: float = 0.3
    scale: float = 30.0
    dropout: float = 0.0
    whitening_shrinkage: float = 0.1
    val_fraction: float = 0.2  # of the classes, held out for the README's metrics
    seed: int = 0
    #: Train on (and serve the whole photo as) features averaged with the mirror image's; the head
    #: file says so (EmbeddingHead.mirror_whole_photo), so the embedder serves it the same way.
    mirror_average: bool = False
    #: Weight of the salient crop in the served search vector (the head file records it). 0.35 and
    #: mirror averaging won the class-disjoint CV inside the 41 training classes by +0.002 to 0.005
    #: mAP but not on the 18 held-out species (R@1 0.950 vs 0.957 fused), so the defaults stay the
    #: recipe as before: inference/weights/flowers102-arcface/README.md.
    crop_weight: float = 0.5


@dataclass
class LabelledPhotos:
    paths: list[Path]
    labels: np.ndarray  # (N,) int index into class_names
    class_names: list[str]
    skipped: list[str] = field(default_factory=list)  # human-readable reasons


def labelled_photos_scan(root: Path, log: Log) -> LabelledPhotos:
    """Photos under DIR/<label>/ (any depth), labelled by the top folder. Empty classes are skipped."""
    if not root.is_dir():
        raise TrainingDataError(f"{root} is not a directory")
    skipped = []
    loose = [p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES]
    if loose:
        skipped.append(f"{len(loose)} photos directly in {root} (not in a class folder), e.g. {loose[0]}")
    paths, labels, class_names = [], [], []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        photos = sorted(p for p in class_dir.rglob("*") if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
        if not photos:
            skipped.append(f"class {class_dir.name!r}: no photos")
            continue
        paths += photos
        labels += [len(class_names)] * len(photos)
        class_names.append(class_dir.name)
    for line in skipped:
        log(f"skipped {line}")
    return LabelledPhotos(paths, np.array(labels, dtype=np.int64), class_names, skipped)


def augmented_view(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random resized crop (35-100% of the area, aspect 3:4-4:3), flip and colour jitter (the
    backbone's input size is features_extract's business).

    Teaches the head that a part of a photo, a mirror image or another exposure is the same
    subject: what a salient crop, a re-encoding or a different camera looks like.
    """
    height, width = rgb.shape[:2]
    area = height * width * rng.uniform(0.35, 1.0)
    aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
    crop_w = max(1, min(width, round(math.sqrt(area * aspect))))
    crop_h = max(1, min(height, round(math.sqrt(area / aspect))))
    top, left = rng.integers(0, height - crop_h + 1), rng.integers(0, width - crop_w + 1)
    image = Image.fromarray(rgb[top : top + crop_h, left : left + crop_w])
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        image = enhance(image).enhance(rng.uniform(0.7, 1.3))
    return np.asarray(image)


def _cache_key(photos: LabelledPhotos, views: int, seed: int, augment: str, variant: LiteVariant,
               mirror_average: bool = False) -> str:
    # Lite0's key reads as it did before other backbones existed, so existing caches stay valid.
    prefix = variant.pth_sha256 if variant.name == "lite0" else f"{variant.name} {variant.pth_sha256}"
    suffix = " mirror-averaged" if mirror_average else ""
    digest = hashlib.sha256(f"{prefix} {views} {seed} {augment}{suffix}".encode())
    for path in photos.paths:
        stat = path.stat()
        digest.update(f"{path} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def features_extract(
    photos: LabelledPhotos, cache_dir: Path, views: int, seed: int, log: Log, progress: bool,
    features_cache: Path | None = None, augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
    variant: LiteVariant | None = None, mirror_average: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(N, views, 1280) float32 features of the ``variant`` backbone (Lite0 unless given) and the
    (N,) mask of photos that could be decoded.

    View 0 is the whole frame as served; the others are ``augment(rgb, rng)`` (HxWx3 uint8),
    augmented_view unless given; every view is squashed to the backbone's input size. With
    ``mirror_average`` each view's features are averaged with its mirror image's, as an embedder
    with EmbeddingModel.mirror_whole_photo serves a whole photo.
    """
    from inference.embedding.backbone import LITE0

    variant = variant or LITE0
    augment = augment or augmented_view
    key = _cache_key(photos, views, seed, augment.__name__, variant, mirror_average)
    if features_cache and features_cache.is_file():
        with np.load(features_cache) as cached:
            if str(cached["key"]) == key:
                log(f"reusing backbone features from {features_cache}")
                features, readable = cached["features"], cached["readable"]
                for path in np.array(photos.paths)[~readable]:
                    photos.skipped.append(f"unreadable {path} (found when the features cache was made)")
                    log(f"skipped {photos.skipped[-1]}")
                return features, readable
    import tensorflow as tf
    from tqdm import tqdm

    from inference.embedding.backbone import HEAD_CHANNELS, load_lite, preprocess
    from inference.embedding.embedder import pooled_features_function

    forward = pooled_features_function(load_lite(cache_dir, variant=variant), variant.input_size,
                                       mirror_average=mirror_average)
    rng = np.random.default_rng(seed)
    features = np.zeros((len(photos.paths), views, HEAD_CHANNELS), dtype=np.float32)
    readable = np.zeros(len(photos.paths), dtype=bool)
    pending: list[tuple[int, np.ndarray]] = []  # (photo index, its views)

    def flush() -> None:
        batch = preprocess(np.concatenate([v for _, v in pending]))
        out = forward(tf.constant(batch)).numpy().reshape(len(pending), views, HEAD_CHANNELS)
        for (index, _), row in zip(pending, out, strict=True):
            features[index] = row
        pending.clear()

    for index, path in enumerate(tqdm(photos.paths, desc="Backbone features", unit="photo", disable=not progress)):
        try:
            rgb = load_rgb(path.read_bytes(), max_side=WORKING_MAX_SIDE)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            photos.skipped.append(f"unreadable {path}: {exc}")
            log(f"skipped unreadable {path}: {exc}")
            continue
        readable[index] = True
        augmented = [squash_resize(augment(rgb, rng), variant.input_size) for _ in range(views - 1)]
        pending.append((index, np.stack([squash_resize(rgb, variant.input_size), *augmented])))
        if len(pending) * views >= FEATURE_BATCH:
            flush()
    if pending:
        flush()
    if features_cache:
        features_cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(features_cache, key=np.array(key), features=features, readable=readable)
    return features, readable


def usable_classes(photos: LabelledPhotos, readable: np.ndarray, log: Log) -> np.ndarray:
    """Mask of photos kept for training: readable, in a class with >= 2 readable photos."""
    keep = readable.copy()
    for label, name in enumerate(photos.class_names):
        members = readable & (photos.labels == label)
        if members.sum() < MIN_PHOTOS_PER_CLASS:  # every scanned class has photos, maybe not readable ones
            reason = f"class {name!r}: {int(members.sum())} readable photo(s), needs {MIN_PHOTOS_PER_CLASS}"
            photos.skipped.append(reason)
            log(f"skipped {reason}")
            keep &= photos.labels != label
    classes = np.unique(photos.labels[keep])
    if len(classes) < 2:
        raise TrainingDataError(
            f"training needs at least 2 classes with {MIN_PHOTOS_PER_CLASS}+ readable photos each; "
            f"found {len(classes)} ({', '.join(photos.class_names[c] for c in classes) or 'none'}). "
            "Put each class's photos in its own folder: DIR/<label>/*.jpg"
        )
    return keep


def class_split(classes: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded class-disjoint (train, validation) split; no validation unless 2+ classes stay to train."""
    n_val = round(len(classes) * val_fraction)
    if n_val < 1 or len(classes) - n_val < 2:
        return np.sort(classes), np.array([], dtype=classes.dtype)
    shuffled = np.random.default_rng(seed).permutation(classes)
    return np.sort(shuffled[n_val:]), np.sort(shuffled[:n_val])


def head_fit(features: np.ndarray, labels: np.ndarray, config: TrainConfig, meta: dict, progress: bool,
             log: Log):
    """Train head + ArcFace classifier on (N, V, 1280) features; return the folded EmbeddingHead."""
    import keras
    import tensorflow as tf
    from tqdm import tqdm

    from inference.embedding.arcface import ArcFaceLogits, head_build, head_fold
    from inference.embedding.head import head_input
    from inference.embedding.whitening import supervised_whitening
    from inference.versions import EMBEDDING_DIM

    keras.utils.set_random_seed(config.seed)
    classes, dense_labels = np.unique(labels, return_inverse=True)
    samples = head_input(features.reshape(-1, features.shape[-1]))
    sample_labels = np.repeat(dense_labels, features.shape[1]).astype(np.int32)
    mean = samples.mean(axis=0)
    centred = samples - mean
    initial = supervised_whitening(centred, sample_labels, EMBEDDING_DIM, config.whitening_shrinkage)
    # Whitened outputs are large; rescale so the initial embeddings have unit norm on average.
    initial /= np.sqrt(np.mean(np.sum((centred @ initial) ** 2, axis=1)))
    head = head_build(samples.shape[1], EMBEDDING_DIM, config.dropout, initial)
    classifier = ArcFaceLogits(len(classes), config.margin, config.scale)
    classifier.build((None, EMBEDDING_DIM))
    # Start each centre at its class's mean embedding, so the first steps refine rather than undo.
    start_embeddings = centred @ initial
    centres = np.stack([start_embeddings[sample_labels == c].mean(axis=0) for c in range(len(classes))], axis=1)
    classifier.centres.assign(centres.astype(np.float32))

    steps_per_epoch = math.ceil(len(samples) / config.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, steps_per_epoch * config.epochs)
    optimizer = keras.optimizers.Adam(schedule)
    variables = head.trainable_variables + classifier.trainable_variables

    @tf.function
    def step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            logits = classifier(head(x, training=True), y)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    rng = np.random.default_rng(config.seed)
    epochs = tqdm(range(config.epochs), desc="Training head", unit="epoch", disable=not progress)
    for _ in epochs:
        order = rng.permutation(len(samples))
        losses = [
            float(step(tf.constant(centred[batch]), tf.constant(sample_labels[batch])))
            for batch in np.array_split(order, steps_per_epoch)
        ]
        epochs.set_postfix(loss=f"{np.mean(losses):.3f}")
    log(f"final ArcFace loss {np.mean(losses):.3f}")
    return head_fold(head, mean, meta)


def _served(head):
    """The head as the embedder will load it: rounded to float16."""
    from inference.embedding.head import EmbeddingHead

    return EmbeddingHead(head.kernel.astype(np.float16).astype(np.float32),
                         head.bias.astype(np.float16).astype(np.float32), head.meta)


def embedder_train(
    data: Path, out: Path, cache_dir: Path, config: TrainConfig, log: Log, progress: bool = True,
    features_cache: Path | None = None,
) -> dict:
    """Train a head on DATA, validate the recipe on held-out classes, write OUT/head.npz + README.md."""
    from inference.embedding.backbone import load_lite
    from inference.embedding.embedder import head_subspace_projection
    from inference.embedding.retrieval import retrieval_metrics

    started = time.perf_counter()
    if config.views < 1 or config.epochs < 1:
        raise TrainingDataError("views and epochs must be at least 1")
    photos = labelled_photos_scan(data, log)
    if len(photos.class_names) < 2:
        raise TrainingDataError(
            f"training needs at least 2 classes (folders with photos) under {data}; found "
            f"{len(photos.class_names)}. Put each class's photos in its own folder: DIR/<label>/*.jpg"
        )
    features, readable = features_extract(photos, cache_dir, config.views, config.seed, log, progress, features_cache,
                                          mirror_average=config.mirror_average)
    keep = usable_classes(photos, readable, log)
    train_classes, val_classes = class_split(np.unique(photos.labels[keep]), config.val_fraction, config.seed)
    in_train = keep & np.isin(photos.labels, train_classes)
    in_val = keep & np.isin(photos.labels, val_classes)
    meta = {"data": str(data), "classes": len(train_classes) + len(val_classes), "config": asdict(config),
            # How the embedder serves it (EmbeddingHead.crop_weight, .mirror_whole_photo).
            "crop_weight": config.crop_weight, "mirror_whole_photo": config.mirror_average}

    metrics: dict[str, dict] = {}
    if len(val_classes):
        log(f"validating the recipe: {len(train_classes)} training classes, {len(val_classes)} held out")
        trial = _served(head_fit(features[in_train], photos.labels[in_train], config, meta, progress, log))
        whole = features[in_val, 0]  # the whole frame, as served (mirror-averaged with --mirror-average)
        data_free = head_subspace_projection(load_lite(cache_dir), trial.kernel.shape[1])
        metrics = {
            "arcface head (128-D)": retrieval_metrics(trial.project(whole), photos.labels[in_val]),
            "data-free projection (128-D)": retrieval_metrics(whole @ data_free, photos.labels[in_val]),
            "backbone features (1280-D)": retrieval_metrics(whole, photos.labels[in_val]),
        }
    head = _served(head_fit(features[keep], photos.labels[keep], config, meta, progress, log))
    out.mkdir(parents=True, exist_ok=True)
    head.save(out / "head.npz")
    report = {
        "data": str(data),
        "photos_used": int(keep.sum()),
        "classes": [photos.class_names[c] for c in np.unique(photos.labels[keep])],
        "validation_classes": [photos.class_names[c] for c in val_classes],
        "skipped": photos.skipped,
        "config": asdict(config),
        "validation_metrics": metrics,
        "train_seconds": round(time.perf_counter() - started, 1),
    }
    (out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "README.md").write_text(_readme(report))
    return report


def _readme(report: dict) -> str:
    from inference.embedding.retrieval import metrics_line

    config = report["config"]
    lines = [
        "# 128-D ArcFace embedding head",
        "",
        "Written by `python manage.py train_embedder`. Enable it with `EMBEDDING_HEAD=<this folder>/head.npz`;",
        "the version includes the file's hash, so enabling it re-analyses every photo (a rollout).",
        "",
        "- **Weights:** `head.npz`, float16 `kernel` (1280 x 128) and `bias` (128), served as",
        "  `l2_normalise(l2_normalise(sqrt(x)) @ kernel + bias)` on the 1280-D average-pooled",
        "  EfficientNet-Lite0 (ImageNet) features x; backbone frozen.",
        f"- **Data:** `{report['data']}`: {report['photos_used']} photos in {len(report['classes'])} classes "
        f"(folder names: {', '.join(report['classes'])}).",
        f"- **Loss:** ArcFace, margin m = {config['margin']}, scale s = {config['scale']}; classifier dropped "
        "after training.",
        f"- **Training:** {config['epochs']} epochs, batch {config['batch_size']}, Adam {config['learning_rate']} "
        f"with cosine decay from a supervised-whitening start (shrinkage {config['whitening_shrinkage']}), "
        f"input dropout {config['dropout']}, seed {config['seed']}; {config['views']} views per photo "
        "(the whole frame + random resized crops of 35-100% of the area, flips, brightness/contrast/saturation "
        f"x0.7-1.3), cached through the frozen backbone. {report['train_seconds']} s in all.",
    ]
    if "crop_weight" in config:
        lines.append(f"- **Serving:** the salient crop weighs {config['crop_weight']} in the fused search vector "
                     "(recorded in the head file).")
    if config.get("mirror_average"):
        lines += [
            "- **Mirror averaging:** each view's features are the mean of the view's and its mirror image's,",
            "  and the embedder serves a whole photo the same way (one more backbone pass per photo; the",
            "  salient crop is embedded as it is): a photo and its mirror image get the same whole-photo vector.",
        ]
    if report["validation_metrics"]:
        lines += [
            "",
            f"## Validation on {len(report['validation_classes'])} classes held out from training",
            "",
            f"Held-out folders: {', '.join(report['validation_classes'])}. The head was trained on the other",
            "classes, evaluated leave-one-out with cosine similarity on the whole frame, then refitted on all",
            "classes with the same recipe for the shipped weights.",
            "",
            "```",
            *(metrics_line(name, m) for name, m in report["validation_metrics"].items()),
            "```",
        ]
    else:
        lines += ["", "No validation: too few classes for a class-disjoint split (or --val-fraction 0)."]
    if report["skipped"]:
        lines += ["", "## Skipped input", "", *(f"- {line}" for line in report["skipped"])]
    return "\n".join(lines) + "\n"
