"""Class-disjoint k-fold cross-validation of the train_embedder recipe: how a head does on species
it never saw, for one or more recipe variants.

    .venv/bin/python bench/head_cv.py --data /tmp/flowers102-split/train [--folds 5]
        [--features-cache /tmp/flowers-views6.npz] [--mirror-features-cache /tmp/flowers-views6-mirror.npz]
        [--crops-cache /tmp/flowers-crops.npz] [--crop-weights 0.35,0.5,0.65]
        ['{"epochs": 20}' '{"mirror_average": true}' ...]

The classes are split (seeded) into ``folds`` parts; each part in turn is held out, a head is trained
on the others with inference.embedding.training.head_fit (the recipe train_embedder uses, served
in float16) and scored leave-one-out on the held-out classes' whole photos. Prints one JSON line per
variant (the TrainConfig defaults first) with the mean R@1 and mAP over the folds, and one for the
plain 1280-D features on the same folds. Backbone features are cached like train_embedder's.

A variant with ``"mirror_average": true`` trains on and scores views whose features are averaged
with their mirror image's, as the embedder serves a mirror head's whole photo; with
``--mirror-features-cache`` both sets of features come from one pass over the photos (each view
and its mirror image in one batch) and are written with the keys train_embedder reads, so either
cache also serves ``manage.py train_embedder --features-cache``.

With ``--crops-cache``, every photo's salient crop is found as the pipeline finds it (the default
saliency model, inference.images.saliency_crop_box) and embedded as the embedder embeds a crop
(Lite0, 224 px, not mirrored); the variants are then also scored fused with the crop,
inference.pipeline.fuse_vectors at each of ``--crop-weights``, the served search vector.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def views_plain_and_mirrored(photos, cache_dir: Path, views: int, seed: int, plain_cache: Path,
                             mirror_cache: Path) -> None:
    """Write train_embedder's two feature caches (plain and mirror-averaged views) in one pass.

    The views are made exactly as inference.embedding.training.features_extract makes them (same
    seeded augmentation, in the same order), so each file holds what features_extract would.
    """
    import tensorflow as tf
    from tqdm import tqdm

    from inference.embedding.backbone import HEAD_CHANNELS, LITE0, load_lite, preprocess
    from inference.embedding.embedder import pooled_features_function
    from inference.embedding.training import _cache_key, augmented_view
    from inference.images import WORKING_MAX_SIDE, load_rgb, squash_resize

    forward = pooled_features_function(load_lite(cache_dir, variant=LITE0), LITE0.input_size)
    rng = np.random.default_rng(seed)
    plain = np.zeros((len(photos.paths), views, HEAD_CHANNELS), dtype=np.float32)
    mirrored = np.zeros_like(plain)
    readable = np.zeros(len(photos.paths), dtype=bool)
    for index, path in enumerate(tqdm(photos.paths, desc="Backbone features + mirrors", unit="photo")):
        try:
            rgb = load_rgb(path.read_bytes(), max_side=WORKING_MAX_SIDE)
        except (OSError, ValueError) as exc:
            print(f"skipped unreadable {path}: {exc}", file=sys.stderr)
            continue
        readable[index] = True
        augmented = [squash_resize(augmented_view(rgb, rng), LITE0.input_size) for _ in range(views - 1)]
        batch = np.stack([squash_resize(rgb, LITE0.input_size), *augmented])
        out = forward(tf.constant(preprocess(np.concatenate([batch, batch[:, :, ::-1]])))).numpy()
        plain[index], mirrored[index] = out[:views], out[views:]
    for target, features, mirror in ((plain_cache, plain, False), (mirror_cache, (plain + mirrored) / 2.0, True)):
        key = _cache_key(photos, views, seed, augmented_view.__name__, LITE0, mirror)
        target.parent.mkdir(parents=True, exist_ok=True)
        np.savez(target, key=np.array(key), features=features.astype(np.float32), readable=readable)


def crop_features(photos, readable: np.ndarray, cache_dir: Path, cache: Path) -> np.ndarray:
    """(N, 1280) Lite0 features of each photo's salient crop, as the pipeline crops and embeds it."""
    keys = np.array([str(p) for p in photos.paths])
    if cache.is_file():
        with np.load(cache) as cached:
            if np.array_equal(cached["paths"], keys):
                return cached["features"]
    import tensorflow as tf
    from tqdm import tqdm

    from inference.embedding.backbone import LITE0, load_lite, preprocess
    from inference.embedding.embedder import pooled_features_function
    from inference.images import WORKING_MAX_SIDE, load_rgb, saliency_crop_box, squash_resize
    from inference.saliency.models import saliency_model_load
    from inference.versions import DEFAULT_SALIENCY_MODEL

    saliency = saliency_model_load(DEFAULT_SALIENCY_MODEL, cache_dir=cache_dir)
    forward = pooled_features_function(load_lite(cache_dir, variant=LITE0), LITE0.input_size)
    features = np.zeros((len(photos.paths), 1280), dtype=np.float32)
    boxes = np.zeros((len(photos.paths), 4), dtype=np.int64)
    for index in tqdm(np.flatnonzero(readable), desc="Salient crops", unit="photo"):
        rgb = load_rgb(photos.paths[index].read_bytes(), max_side=WORKING_MAX_SIDE)
        left, top, right, bottom = boxes[index] = saliency_crop_box(saliency.predict(rgb))
        crop = squash_resize(rgb[top:bottom, left:right], LITE0.input_size)
        features[index] = forward(tf.constant(preprocess(crop[None]))).numpy()[0]
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, paths=keys, boxes=boxes, features=features, saliency=np.array(saliency.version))
    return features


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "flowers102")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--features-cache", type=Path)
    parser.add_argument("--mirror-features-cache", type=Path,
                        help="mirror-averaged views (needed by a mirror_average variant)")
    parser.add_argument("--crops-cache", type=Path, help="salient-crop features: also score fused vectors")
    parser.add_argument("--crop-weights", default="0.35,0.5,0.65")
    default_cache = Path(os.environ.get("MODEL_CACHE_DIR", ROOT / "var" / "models"))
    parser.add_argument("--cache-dir", type=Path, default=default_cache)
    parser.add_argument("variants", nargs="*", help="JSON objects of TrainConfig fields to change")
    args = parser.parse_args()

    from inference.embedding.retrieval import retrieval_metrics
    from inference.embedding.training import TrainConfig, _served, features_extract, head_fit, labelled_photos_scan
    from inference.pipeline import fuse_vectors

    base = TrainConfig()
    photos = labelled_photos_scan(args.data, lambda line: None)
    specs = [{}, *(json.loads(v) for v in args.variants)]
    if args.mirror_features_cache and args.features_cache:
        both = [features_extract(photos, args.cache_dir, base.views, base.seed, lambda line: None, progress=False,
                                 features_cache=cache, mirror_average=mirror)
                for cache, mirror in ((args.features_cache, False), (args.mirror_features_cache, True))
                if cache.is_file()]
        if len(both) < 2:
            views_plain_and_mirrored(photos, args.cache_dir, base.views, base.seed, args.features_cache,
                                     args.mirror_features_cache)
    elif any(spec.get("mirror_average") for spec in specs):
        parser.error("a mirror_average variant needs --features-cache and --mirror-features-cache")

    def extracted(mirror: bool) -> tuple[np.ndarray, np.ndarray]:
        cache = args.mirror_features_cache if mirror else args.features_cache
        return features_extract(photos, args.cache_dir, base.views, base.seed, lambda line: None, progress=False,
                                features_cache=cache, mirror_average=mirror)

    features_of = {False: extracted(False)[0]}
    readable = extracted(False)[1]
    if args.mirror_features_cache:
        features_of[True] = extracted(True)[0]
    crops = crop_features(photos, readable, args.cache_dir, args.crops_cache) if args.crops_cache else None
    crop_weights = [float(w) for w in args.crop_weights.split(",") if w.strip()]
    labels = photos.labels
    folds = np.array_split(np.random.default_rng(args.seed).permutation(np.unique(labels[readable])), args.folds)

    def scored(vectors_for_fold) -> dict:
        """Mean R@1 / mAP over the folds of each vector set vectors_for_fold(held, test) returns."""
        per_fold: dict[str, list] = {}
        for held in folds:
            test = readable & np.isin(labels, held)
            for name, vectors in vectors_for_fold(held, test).items():
                metrics = retrieval_metrics(vectors, labels[test])
                per_fold.setdefault(name, []).append((metrics["recall@1"], metrics["mAP"]))
        return {name: [round(float(v), 3) for v in np.mean(rows, axis=0)] for name, rows in per_fold.items()}

    def plain_vectors(held, test) -> dict:
        out = {"whole": features_of[False][test, 0]}
        if True in features_of:
            out["whole + mirror"] = features_of[True][test, 0]
        return out

    common = {"bench": "head_cv", "data": str(args.data), "folds": args.folds, "classes": int(len(np.unique(labels)))}
    print(json.dumps({**common, "variant": "plain 1280-D features", "R@1 / mAP": scored(plain_vectors)}), flush=True)
    for spec in specs:
        config = replace(base, **spec)
        features = features_of[config.mirror_average]
        started = time.perf_counter()

        def head_vectors(held, test, config=config, features=features) -> dict:
            train = readable & ~np.isin(labels, held)
            head = _served(head_fit(features[train], labels[train], config, {}, False, lambda line: None))
            whole = head.project(features[test, 0])
            out = {"whole": whole}
            if crops is not None:
                crop = head.project(crops[test])
                out["crop"] = crop
                out |= {f"fused {w:g}": fuse_vectors(whole, crop, crop_weight=w) for w in crop_weights}
            return out
        result = scored(head_vectors)
        print(json.dumps({**common, "variant": spec or "defaults", "R@1 / mAP": result, "config": asdict(config),
                          "seconds": round(time.perf_counter() - started, 1), "loadavg": os.getloadavg()[0]}),
              flush=True)


if __name__ == "__main__":
    main()
