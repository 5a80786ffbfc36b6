"""The class-disjoint flowers102 protocol: link training and held-out classes into two folders.

    .venv/bin/python bench/flowers_split.py [--data ../shared/data/flowers102] [--out /tmp/flowers102-split]

Writes OUT/train/<class>/ and OUT/heldout/<class>/ of symlinks to the photos (nothing is copied), with
a seeded 70/30 split of the class ids, and prints the held-out ids. Train a head on OUT/train and
evaluate it with evaluate_retrieval on OUT/heldout: those classes were never seen in training.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "flowers102")
    parser.add_argument("--out", type=Path, default=Path("/tmp/flowers102-split"))
    parser.add_argument("--heldout-fraction", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    classes = sorted((p.name for p in args.data.iterdir() if p.is_dir()), key=int)
    shuffled = np.random.default_rng(args.seed).permutation(classes)
    heldout = sorted(shuffled[: round(len(classes) * args.heldout_fraction)], key=int)
    for name in classes:
        target = args.out / ("heldout" if name in heldout else "train") / name
        target.mkdir(parents=True, exist_ok=True)
        for photo in sorted((args.data / name).glob("*.jpg")):
            link = target / photo.name
            if not link.is_symlink():
                link.symlink_to(photo.resolve())
    print(json.dumps({"data": str(args.data), "out": str(args.out), "classes": len(classes),
                      "heldout_classes": [int(c) for c in heldout]}))


if __name__ == "__main__":
    main()
