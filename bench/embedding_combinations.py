"""Issue 13's untried combinations, through the served recipe: mirror averaging and bigger or
multi-scale inputs, each fed to the view-whitened 128-D projection and fused with the salient crop.

    .venv/bin/python bench/embedding_combinations.py [--cache /tmp/embedding-levers]
        [--osie ../shared/data/saliency/osie/images] [--flowers /tmp/flowers102-split/train]

Dev data only, as bench/embedding_levers.py (the 18 held-out flower species are never read):
(a) bench/scene_groups.py's folder, Holidays protocol, mAP over all 400 groups, the even and the
odd groups; (b) the 41 training classes of bench/flowers_split.py (every 2nd photo) in two class
folds, leave-one-out R@1 / mAP in each, averaged.

Lite0 pooled features (1280-D) of each dev photo, its salient crop (msinet-lite0, as the pipeline
chooses it) and their mirror images are computed once and cached (float16): the whole photo
squashed to 224, 288 and 320 px, the crop to 224. So are the features of the view-whitening pool,
made exactly as ``manage.py train_view_whitening`` makes them (OSIE + the 41 training classes, the
whole frame + 5 simulated re-shoots per photo, seed 0), each view also mirrored. Then every
combination is scored through the projection, refitted per variant as the command would fit it:

* whole-photo features: 224 px as served; the mean with its mirror image's; the mean over 224 px and
  288 or 320 px (multi-scale), each optionally with mirrors;
* crop features: 224 px, or averaged with its mirror image's;
* the projection: fitted on the pool's plain views (lite0-vw128 as shipped) or on mirror-averaged
  views (each view's features averaged with its mirror image's before fitting);
* fused at the crop weights 0 / 0.25 / 0.35 / 0.5 with inference.pipeline.fuse_vectors.

On the scene groups the projection is fitted on the whole pool (as shipped); on each flowers fold
on OSIE + the other fold's classes only. Each line also says the combination's backbone work per
photo in 224-px passes (a pass costs the square of its side), what the 1.3x cost cap is about.
Prints one JSON line per combination, then the seconds and the load average.
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

#: The whole photo at each of these input sides; the crop at the served one only.
WHOLE_SIZES = (224, 288, 320)
EVAL_VIEWS = tuple(f"whole{s}{m}" for s in WHOLE_SIZES for m in ("", "-mirror")) + ("crop224", "crop224-mirror")
POOL_VIEWS = 6  # train_view_whitening's default: the whole frame + 5 shots
#: Whole-photo and crop descriptors: the mean of these views' 1280-D features (before sqrt, L2).
WHOLE_DESCRIPTORS = {
    "224 (served)": ("whole224",),
    "224 + mirror": ("whole224", "whole224-mirror"),
    "288": ("whole288",),
    "288 + mirror": ("whole288", "whole288-mirror"),
    "224 + 288": ("whole224", "whole288"),
    "224 + 288, + mirrors": ("whole224", "whole224-mirror", "whole288", "whole288-mirror"),
    "224 + 320": ("whole224", "whole320"),
    "224 + 320, + mirrors": ("whole224", "whole224-mirror", "whole320", "whole320-mirror"),
}
CROP_DESCRIPTORS = {"224 (served)": ("crop224",), "224 + mirror": ("crop224", "crop224-mirror")}
SHRINKAGE = 0.03


def _forwards(cache_dir: Path, sizes: tuple[int, ...]) -> dict:
    """{side: traced (N, side, side, 3) float32 -> (N, 1280) Lite0 pooled features}."""
    from inference.embedding.backbone import LITE0, load_lite
    from inference.embedding.embedder import pooled_features_function

    # Lite0's weights do not depend on the input side: only the traced shape changes.
    return {size: pooled_features_function(load_lite(cache_dir, variant=LITE0._replace(input_size=size)), size)
            for size in sizes}


def _pooled_with_mirror(forward, images: list[np.ndarray], size: int) -> np.ndarray:
    """(N, 2, 1280) features of the squashed images and of their mirror images."""
    import tensorflow as tf

    from inference.embedding.backbone import preprocess
    from inference.images import squash_resize

    squashed = np.stack([squash_resize(image, size) for image in images])
    batch = preprocess(np.concatenate([squashed, squashed[:, :, ::-1]]))
    out = forward(tf.constant(batch)).numpy()
    return np.stack([out[: len(images)], out[len(images) :]], axis=1)


def eval_features(folder: Path, every: int, cache: Path, cache_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(labels, (N, len(EVAL_VIEWS), 1280) float32) for every ``every``-th photo under folder, cached."""
    target = cache / f"lite0-combinations-{folder.name}-every{every}.npz"
    if not target.is_file():
        from inference.images import WORKING_MAX_SIDE, load_rgb, saliency_crop_box

        paths = sorted(folder.rglob("*.jpg"))[::every]
        boxes_file = cache / f"boxes-{folder.name}-every{every}.npy"
        if boxes_file.is_file():
            boxes = np.load(boxes_file)
        else:
            from inference.saliency.models import saliency_model_load

            saliency = saliency_model_load("msinet-lite0", cache_dir=cache_dir)
            boxes = np.array([saliency_crop_box(saliency.predict(load_rgb(p.read_bytes(), max_side=WORKING_MAX_SIDE)))
                              for p in paths])
            cache.mkdir(parents=True, exist_ok=True)
            np.save(boxes_file, boxes)
        if len(boxes) != len(paths):
            raise SystemExit(f"{boxes_file}: {len(boxes)} boxes for {len(paths)} photos")
        forwards = _forwards(cache_dir, WHOLE_SIZES)
        rows = []
        for index, (path, (left, top, right, bottom)) in enumerate(zip(paths, boxes, strict=True)):
            rgb = load_rgb(path.read_bytes(), max_side=WORKING_MAX_SIDE)
            whole = [_pooled_with_mirror(forwards[s], [rgb], s)[0] for s in WHOLE_SIZES]
            crop = _pooled_with_mirror(forwards[224], [rgb[top:bottom, left:right]], 224)[0]
            rows.append(np.concatenate([*whole, crop]).astype(np.float16))
            if index % 200 == 0:
                print(f"{folder.name}: {index}/{len(paths)}", file=sys.stderr, flush=True)
        labels = np.array([p.relative_to(folder).parts[0] for p in paths])
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(target, labels=labels, views=np.array(EVAL_VIEWS), features=np.stack(rows))
    with np.load(target) as cached:
        return cached["labels"], cached["features"].astype(np.float32)


def pool_features(paths: list[Path], cache: Path, cache_dir: Path) -> np.ndarray:
    """(N, POOL_VIEWS, 2 = plain / mirror, 1280) float32: train_view_whitening's views, cached."""
    target = cache / f"lite0-combinations-pool-{len(paths)}.npz"
    if not target.is_file():
        from inference.embedding.view_whitening import shot_view
        from inference.images import WORKING_MAX_SIDE, load_rgb

        forward = _forwards(cache_dir, (224,))[224]
        rng = np.random.default_rng(0)  # the command's seed: the same shots in the same order
        rows = []
        for index, path in enumerate(paths):
            rgb = load_rgb(path.read_bytes(), max_side=WORKING_MAX_SIDE)
            views = [rgb] + [shot_view(rgb, rng) for _ in range(POOL_VIEWS - 1)]
            rows.append(_pooled_with_mirror(forward, views, 224).astype(np.float16))
            if index % 200 == 0:
                print(f"pool: {index}/{len(paths)}", file=sys.stderr, flush=True)
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(target, paths=np.array([str(p) for p in paths]), features=np.stack(rows))
    with np.load(target) as cached:
        return cached["features"].astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenes", type=Path, default=Path("/tmp/scene-groups"))
    parser.add_argument("--flowers", type=Path, default=Path("/tmp/flowers102-split/train"))
    parser.add_argument("--every", type=int, default=2, help="flowers: every n-th photo")
    parser.add_argument("--osie", type=Path, default=ROOT.parent / "shared" / "data" / "saliency" / "osie" / "images")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/embedding-levers"))
    parser.add_argument("--extract-only", action="store_true", help="fill the caches, score nothing")
    parser.add_argument("--seed", type=int, default=0)
    default_cache = Path(os.environ.get("MODEL_CACHE_DIR", ROOT / "var" / "models"))
    parser.add_argument("--cache-dir", type=Path, default=default_cache)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gallery.config.settings.base")
    from inference.management.commands._photos import photo_paths

    started = time.perf_counter()
    pool_paths = photo_paths(args.osie) + photo_paths(args.flowers)
    scene_labels, scenes = eval_features(args.scenes, 1, args.cache, args.cache_dir)
    flower_labels, flowers = eval_features(args.flowers, args.every, args.cache, args.cache_dir)
    pool = pool_features(pool_paths, args.cache, args.cache_dir)
    if args.extract_only:
        print(json.dumps({"bench": "embedding_combinations", "extracted": True,
                          "seconds": round(time.perf_counter() - started), "loadavg": os.getloadavg()[0]}))
        return

    from bench.embedding_levers import flowers_two_fold, scene_map
    from inference.embedding.view_whitening import view_whitening_fit

    pool_class = np.array(["" if args.osie in p.parents else p.parent.name for p in pool_paths])
    pools = {"plain views (as shipped)": pool[:, :, 0], "mirror-averaged views": pool.mean(axis=2)}
    column = {name: i for i, name in enumerate(EVAL_VIEWS)}
    common = {"bench": "embedding_combinations", "scene groups mAP [all, even, odd]": str(args.scenes),
              "flowers two-fold [R@1, mAP]": f"{args.flowers} every {args.every}"}
    for projection, views in pools.items():
        shipped = view_whitening_fit(views, dim=128, shrinkage=SHRINKAGE, meta={})
        heads = {}

        def fold_projection(held, x, heads=heads, views=views):
            key = tuple(held)
            if key not in heads:  # fitted without the held-out fold's classes
                heads[key] = view_whitening_fit(views[~np.isin(pool_class, held)], dim=128, shrinkage=SHRINKAGE,
                                                meta={})
            return heads[key].project(x)

        for whole_name, whole_views in WHOLE_DESCRIPTORS.items():
            for crop_name, crop_views in CROP_DESCRIPTORS.items():
                def mean_of(features: np.ndarray, views: tuple[str, ...]) -> np.ndarray:
                    return features[:, [column[v] for v in views]].mean(axis=1)

                passes = sum((int(v[5:8]) / 224) ** 2 for v in whole_views) + len(crop_views)
                print(json.dumps({
                    **common, "projection fitted on": projection, "whole photo": whole_name, "crop": crop_name,
                    "passes per photo (224 px)": round(passes, 2),
                    "scenes": scene_map(shipped.project(mean_of(scenes, whole_views)),
                                        shipped.project(mean_of(scenes, crop_views)), scene_labels),
                    "flowers": flowers_two_fold(fold_projection, mean_of(flowers, whole_views),
                                                mean_of(flowers, crop_views), flower_labels, args.seed),
                }), flush=True)
    print(json.dumps({"bench": "embedding_combinations", "seconds": round(time.perf_counter() - started),
                      "loadavg": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
