"""Issue 13's last levers on the dev sets: a bigger backbone (EfficientNet-Lite1/2) and regional pooling.

    .venv/bin/python bench/embedding_levers.py [--variants lite0,lite1,lite2] [--cache /tmp/embedding-levers]
        [--osie ../shared/data/saliency/osie/images --vw-pool lite1=/tmp/lite1-pool.npz ...]

Dev data only (the 18 held-out flower species are never read): (a) bench/scene_groups.py's folder
(/tmp/scene-groups), Holidays protocol, mAP over all 400 groups, the even and the odd groups; (b) the
41 training classes of bench/flowers_split.py (/tmp/flowers102-split/train, every 2nd photo), split
into two class folds (seeded), leave-one-out R@1 / mAP within each fold, averaged. Each photo is read
as the pipeline reads it (load_rgb at WORKING_MAX_SIDE), its salient crop chosen by msinet-lite0, and
the whole photo and the crop are squashed to each backbone's input size. Descriptors of the last
feature map (1280 channels after ReLU6), power-normalised (sqrt, L2) before cosine:

* ``avg``: the global average pool, what the embedders serve;
* ``rmac-avg`` / ``rmac-max``: R-MAC style regional pooling (Tolias et al., ICLR 2016): 3 scales of
  square regions (the whole map, 2x2 and 3x3 overlapping regions of 2/(l+1) of its side), each
  region's mean (sqrt) or max L2-normalised, then summed.

With ``--vw-pool NAME=NPZ`` (the --features-cache of ``manage.py train_view_whitening --backbone
NAME`` on OSIE + the 41 training classes, 6 views), also the view-whitened 128-D projection of that
backbone: on the scene groups fitted on the whole pool (as shipped), on each flowers fold fitted on
OSIE + the other fold's classes only. Fused rows use the crop weights 0 / 0.25 / 0.35 / 0.5.
Features are cached in --cache (float16). Prints one JSON line per (backbone, descriptor).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DESCRIPTORS = ("avg", "rmac-avg", "rmac-max")
CROP_WEIGHTS = (0.0, 0.25, 0.35, 0.5)


def rmac_regions(side: int, levels: int = 3) -> list[tuple[int, int, int]]:
    """(top, left, size) of the R-MAC regions on a side x side map."""
    regions = []
    for level in range(1, levels + 1):
        size = side if level == 1 else round(2 * side / (level + 1))
        starts = np.unique(np.round(np.linspace(0, side - size, level)).astype(int))
        regions += [(top, left, size) for top in starts for left in starts]
    return regions


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def descriptors(feature_map: np.ndarray) -> np.ndarray:
    """(N, s, s, 1280) -> (N, 3, 1280): DESCRIPTORS, before power normalisation."""
    pooled = feature_map.mean(axis=(1, 2))
    regional_avg = np.zeros_like(pooled)
    regional_max = np.zeros_like(pooled)
    for top, left, size in rmac_regions(feature_map.shape[1]):
        region = feature_map[:, top : top + size, left : left + size]
        regional_avg += _unit(np.sqrt(region.mean(axis=(1, 2))))
        regional_max += _unit(region.max(axis=(1, 2)))
    return np.stack([pooled, regional_avg, regional_max], axis=1)


def features_cached(variants: list[str], folder: Path, every: int, cache: Path, cache_dir: Path) -> dict:
    """{variant: (labels, (N, 2 = whole/crop, 3 descriptors, 1280))}, computed once per folder."""
    files = {v: cache / f"{v}-{folder.name}-every{every}.npz" for v in variants}
    missing = [v for v, f in files.items() if not f.is_file()]
    if missing:
        import keras
        import tensorflow as tf

        from inference.embedding.backbone import LITE_VARIANTS, load_lite, preprocess
        from inference.images import WORKING_MAX_SIDE, load_rgb, saliency_crop_box, squash_resize
        from inference.saliency.models import saliency_model_load

        saliency = saliency_model_load("msinet-lite0", cache_dir=cache_dir)
        maps = {}
        for name in missing:
            variant = LITE_VARIANTS[name]
            model = load_lite(cache_dir, include_top=True, variant=variant)
            last = keras.Model(model.input, model.get_layer("head_relu6").output)
            maps[name] = (variant.input_size, tf.function(last, input_signature=[
                tf.TensorSpec((None, variant.input_size, variant.input_size, 3), tf.float32)]))
        paths = sorted(p for p in folder.rglob("*.jpg"))[::every]
        out = {name: [] for name in missing}
        for path in paths:
            rgb = load_rgb(path.read_bytes(), max_side=WORKING_MAX_SIDE)
            left, top, right, bottom = saliency_crop_box(saliency.predict(rgb))
            pair = [rgb, rgb[top:bottom, left:right]]
            for name, (size, forward) in maps.items():
                batch = preprocess(np.stack([squash_resize(image, size) for image in pair]))
                out[name].append(descriptors(forward(tf.constant(batch)).numpy()).astype(np.float16))
        labels = np.array([p.relative_to(folder).parts[0] for p in paths])
        cache.mkdir(parents=True, exist_ok=True)
        for name in missing:
            np.savez(files[name], labels=labels, features=np.stack(out[name]))
    return {v: (np.load(f)["labels"], np.load(f)["features"].astype(np.float32)) for v, f in files.items()}


def scene_map(whole: np.ndarray, crop: np.ndarray, labels: np.ndarray) -> dict:
    """{crop weight: [mAP all groups, even groups, odd groups]}."""
    from inference.embedding.retrieval import DISTRACTORS_FOLDER, holidays_metrics
    from inference.pipeline import fuse_vectors

    groups = [None if g == DISTRACTORS_FOLDER else g for g in labels]
    halves = [np.ones(len(groups), bool)] + [
        np.array([g is None or int(g) % 2 == parity for g in groups]) for parity in (0, 1)]
    def score(vectors: np.ndarray, keep: np.ndarray) -> float:
        return round(holidays_metrics(vectors[keep], [g for g, k in zip(groups, keep, strict=True) if k])["mAP"], 3)

    whole, crop = _unit(whole), _unit(crop)
    return {w: [score(fuse_vectors(whole, crop, crop_weight=w), keep) for keep in halves] for w in CROP_WEIGHTS}


def flowers_two_fold(project, whole: np.ndarray, crop: np.ndarray, labels: np.ndarray, seed: int) -> dict:
    """{crop weight: [R@1, mAP]} averaged over two class folds; project(held_classes, x) -> vectors."""
    from inference.embedding.retrieval import retrieval_metrics
    from inference.pipeline import fuse_vectors

    folds = np.array_split(np.random.default_rng(seed).permutation(np.unique(labels)), 2)
    scores = {w: [] for w in CROP_WEIGHTS}
    for held in folds:
        test = np.isin(labels, held)
        w_vec, c_vec = _unit(project(held, whole[test])), _unit(project(held, crop[test]))
        for w in CROP_WEIGHTS:
            m = retrieval_metrics(fuse_vectors(w_vec, c_vec, crop_weight=w), labels[test])
            scores[w].append((m["recall@1"], m["mAP"]))
    return {w: [round(float(v), 3) for v in np.mean(s, axis=0)] for w, s in scores.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variants", default="lite0,lite1,lite2")
    parser.add_argument("--scenes", type=Path, default=Path("/tmp/scene-groups"))
    parser.add_argument("--flowers", type=Path, default=Path("/tmp/flowers102-split/train"))
    parser.add_argument("--every", type=int, default=2, help="flowers: every n-th photo")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/embedding-levers"))
    parser.add_argument("--osie", type=Path, default=ROOT.parent / "shared" / "data" / "saliency" / "osie" / "images",
                        help="the OSIE photos the --vw-pool features were made from (first, then --flowers)")
    parser.add_argument("--vw-pool", nargs="*", default=[], help="NAME=NPZ: train_view_whitening --features-cache")
    parser.add_argument("--seed", type=int, default=0)
    default_cache = Path(os.environ.get("MODEL_CACHE_DIR", ROOT / "var" / "models"))
    parser.add_argument("--cache-dir", type=Path, default=default_cache)
    args = parser.parse_args()

    from inference.embedding.head import head_input
    from inference.embedding.view_whitening import view_whitening_fit

    started = time.perf_counter()
    variants = args.variants.split(",")
    scenes = features_cached(variants, args.scenes, 1, args.cache, args.cache_dir)
    flowers = features_cached(variants, args.flowers, args.every, args.cache, args.cache_dir)
    common = {"bench": "embedding_levers", "scene groups mAP [all, even, odd]": str(args.scenes),
              "flowers two-fold [R@1, mAP]": f"{args.flowers} every {args.every}"}
    for name in variants:
        (scene_labels, scene), (flower_labels, flower) = scenes[name], flowers[name]
        for d, descriptor in enumerate(DESCRIPTORS):
            print(json.dumps({**common, "backbone": name, "vectors": f"{descriptor}, sqrt, no projection",
                              "scenes": scene_map(head_input(scene[:, 0, d]), head_input(scene[:, 1, d]),
                                                  scene_labels),
                              "flowers": flowers_two_fold(lambda held, x, d=d: head_input(x[:, d]),
                                                          flower[:, 0], flower[:, 1], flower_labels, args.seed)}))
    for spec in args.vw_pool:
        name, npz = spec.split("=", 1)
        pool = np.load(npz)["features"]
        from inference.management.commands._photos import photo_paths

        paths = photo_paths(args.osie) + photo_paths(args.flowers)
        if len(paths) != len(pool):
            raise SystemExit(f"{npz}: {len(pool)} photos, expected OSIE + {args.flowers} ({len(paths)})")
        pool_class = np.array(["" if args.osie in p.parents else p.parent.name for p in paths])

        def fitted(rows: np.ndarray, pool: np.ndarray = pool):
            return view_whitening_fit(pool[rows], dim=128, shrinkage=0.03, meta={})

        shipped = fitted(np.ones(len(pool), bool))
        heads = {}

        def fold_projection(held, x, heads=heads, fitted=fitted, pool_class=pool_class):
            key = tuple(held)
            if key not in heads:
                heads[key] = fitted(~np.isin(pool_class, held))
            return heads[key].project(x[:, 0])

        (scene_labels, scene), (flower_labels, flower) = scenes[name], flowers[name]
        print(json.dumps({**common, "backbone": name, "vectors": "avg, view-whitened 128-D",
                          "scenes": scene_map(shipped.project(scene[:, 0, 0]), shipped.project(scene[:, 1, 0]),
                                              scene_labels),
                          "flowers": flowers_two_fold(fold_projection, flower[:, 0], flower[:, 1], flower_labels,
                                                      args.seed)}))
    print(json.dumps({"bench": "embedding_levers", "seconds": round(time.perf_counter() - started),
                      "loadavg": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
