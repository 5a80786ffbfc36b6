"""A general-photo development set: groups of simulated re-shoots of one scene, with distractors.

    .venv/bin/python bench/scene_groups.py [--source ../shared/data/saliency/nus_scene/images]
        [--out /tmp/scene-groups] [--distractors 0.2] [--seed 0]

Labels for everyday photos are not in ../shared/data, so this makes groups that behave like the
INRIA Holidays set ("two shots of the same scene"): each source photo becomes a group of 2-4 shots
(inference.embedding.shots: re-framing and zoom, exposure, white balance, tilt, quarter turns, JPEG
quality), written as OUT/<group>/<n>.jpg; a share of the source photos become single shots in
OUT/_distractors/ (never queries, relevant to nothing). Score it with the Holidays protocol:

    .venv/bin/python manage.py evaluate_retrieval OUT --groups

The default source, the NUS scene photos, is never used to train the default embedder (that uses
OSIE: bench/view_whitening.py). Nothing is copied from the data folder into the repository. Prints
one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", type=Path,
                        default=ROOT.parent / "shared" / "data" / "saliency" / "nus_scene" / "images")
    parser.add_argument("--out", type=Path, default=Path("/tmp/scene-groups"))
    parser.add_argument("--distractors", type=float, default=0.2, help="share of source photos used as distractors")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from inference.embedding.retrieval import DISTRACTORS_FOLDER
    from inference.embedding.shots import scene_shot_jpeg
    from inference.images import load_rgb

    sources = sorted(p for p in args.source.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(sources))
    n_distractors = round(len(sources) * args.distractors)
    groups = photos = 0
    for rank, index in enumerate(order):
        source = sources[index]
        rgb = load_rgb(source.read_bytes())
        if rank < n_distractors:
            folder, count = args.out / DISTRACTORS_FOLDER, 1
        else:
            folder, count = args.out / source.stem, int(rng.integers(2, 5))
            groups += 1
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(count):
            name = f"{source.stem}.jpg" if count == 1 else f"{n}.jpg"
            (folder / name).write_bytes(scene_shot_jpeg(rgb, rng))
            photos += 1
    print(json.dumps({"bench": "scene_groups", "source": str(args.source), "out": str(args.out), "groups": groups,
                      "distractors": n_distractors, "photos": photos, "seed": args.seed}))


if __name__ == "__main__":
    main()
