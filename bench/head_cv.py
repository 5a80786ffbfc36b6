"""Class-disjoint k-fold cross-validation of the train_embedder recipe: how a head does on species
it never saw, for one or more recipe variants.

    .venv/bin/python bench/head_cv.py --data ../shared/data/flowers102 [--folds 5]
        [--features-cache /tmp/flowers-views6.npz] ['{"epochs": 20}' '{"margin": 0.5}' ...]

The classes are split (seeded) into ``folds`` parts; each part in turn is held out, a head is trained
on the others with inference.embedding.training.head_fit (the recipe train_embedder uses, served
in float16) and scored leave-one-out on the held-out classes' whole photos. Prints one JSON line per
variant (the TrainConfig defaults first) with the mean R@1 and mAP over the folds, and one for the
plain 1280-D features on the same folds. Backbone features are cached like train_embedder's.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "flowers102")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--features-cache", type=Path)
    default_cache = Path(os.environ.get("MODEL_CACHE_DIR", ROOT / "var" / "models"))
    parser.add_argument("--cache-dir", type=Path, default=default_cache)
    parser.add_argument("variants", nargs="*", help="JSON objects of TrainConfig fields to change")
    args = parser.parse_args()

    from inference.embedding.retrieval import retrieval_metrics
    from inference.embedding.training import TrainConfig, _served, features_extract, head_fit, labelled_photos_scan

    base = TrainConfig()
    photos = labelled_photos_scan(args.data, lambda line: None)
    features, readable = features_extract(photos, args.cache_dir, base.views, base.seed, lambda line: None,
                                          progress=False, features_cache=args.features_cache)
    labels = photos.labels
    folds = np.array_split(np.random.default_rng(args.seed).permutation(np.unique(labels[readable])), args.folds)

    def scored(vectors_for_fold) -> dict:
        per_fold = []
        for held in folds:
            test = readable & np.isin(labels, held)
            metrics = retrieval_metrics(vectors_for_fold(held, test), labels[test])
            per_fold.append((metrics["recall@1"], metrics["mAP"]))
        r1, ap = np.mean(per_fold, axis=0)
        return {"recall@1": round(float(r1), 3), "mAP": round(float(ap), 3)}

    common = {"bench": "head_cv", "data": str(args.data), "folds": args.folds, "classes": int(len(np.unique(labels)))}
    print(json.dumps({**common, "variant": "plain 1280-D features", **scored(lambda held, test: features[test, 0])}))
    for spec in [{}, *(json.loads(v) for v in args.variants)]:
        config = replace(base, **spec)
        started = time.perf_counter()

        def head_vectors(held, test, config=config):
            train = readable & ~np.isin(labels, held)
            head = _served(head_fit(features[train], labels[train], config, {}, False, lambda line: None))
            return head.project(features[test, 0])
        result = scored(head_vectors)
        print(json.dumps({**common, "variant": spec or "defaults", **result, "config": asdict(config),
                          "seconds": round(time.perf_counter() - started, 1), "loadavg": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
