"""Reference retrieval figures of the raw 1280-D Lite0 features (no projection, no crop).

    .venv/bin/python bench/backbone_reference.py DIR [--groups]

For a labelled folder (DIR/<label>/*.jpg), embeds each whole photo as the pipeline does (load_rgb at
WORKING_MAX_SIDE, squash to 224x224) but keeps the 1280-D average-pooled features, and prints one JSON
line with leave-one-out cosine Recall@1/5/10 and mAP, plain and power-normalised (sqrt). It is the
baseline the 128-D vectors are compared with. With --groups, the INRIA Holidays protocol instead, as
``evaluate_retrieval --groups`` (DIR/<group>/, distractors in DIR/_distractors/).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dir", type=Path)
    default_cache = Path(os.environ.get("MODEL_CACHE_DIR", ROOT / "var" / "models"))
    parser.add_argument("--cache-dir", type=Path, default=default_cache)
    parser.add_argument("--groups", action="store_true", help="INRIA Holidays protocol (see evaluate_retrieval)")
    args = parser.parse_args()

    import tensorflow as tf

    from inference.embedding.backbone import load_lite, preprocess
    from inference.embedding.embedder import pooled_features_function, resize_for_model
    from inference.embedding.retrieval import DISTRACTORS_FOLDER, holidays_metrics, retrieval_metrics
    from inference.images import WORKING_MAX_SIDE, load_rgb

    forward = pooled_features_function(load_lite(args.cache_dir))
    paths = sorted(p for p in args.dir.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    labels = [p.relative_to(args.dir).parts[0] for p in paths]
    features = np.concatenate([
        forward(tf.constant(preprocess(np.stack([
            resize_for_model(load_rgb(p.read_bytes(), max_side=WORKING_MAX_SIDE)) for p in paths[i : i + 32]
        ])))).numpy()
        for i in range(0, len(paths), 32)
    ])
    groups = [None if label == DISTRACTORS_FOLDER else label for label in labels]
    rounded = {
        name: {k: round(v, 3) for k, v in (holidays_metrics(vectors, groups) if args.groups
                                           else retrieval_metrics(vectors, labels)).items()}
        for name, vectors in {"1280-D": features, "1280-D sqrt": np.sqrt(np.maximum(features, 0))}.items()
    }
    print(json.dumps({"bench": "backbone_reference", "dir": str(args.dir), "photos": len(paths),
                      "protocol": "holidays" if args.groups else "leave-one-out", **rounded}))


if __name__ == "__main__":
    main()
