"""A non-flower retrieval sanity set: each general photo plus edited copies of it form one label.

    .venv/bin/python bench/sanity_set.py [--source ../shared/data/saliency] [--out /tmp/sanity-set] [--photos 60]
                                         [--crop-sides 0.5 0.8]

Takes a seeded sample of the general scenes (streets, rooms, people, animals) under
SOURCE/*/images and writes OUT/<stem>/ with the original and six edits of it: two crops of
50-80% of each side (--crop-sides; 0.3 0.5 makes a harder set), a JPEG re-encoding at quality 20,
a 35% downscale, a mirror image and a brightness/contrast/saturation change. A search that
serves any photo must find the copies of a photo before anything else (evaluate_retrieval OUT).
Writes to /tmp, never into the repository.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

ROOT = Path(__file__).resolve().parents[1]


def edits(photo: Image.Image, rng: np.random.Generator, crop_sides: tuple[float, float]) -> dict[str, Image.Image]:
    width, height = photo.size
    out = {"original": photo}
    for i in range(2):
        crop_w, crop_h = (int(side * rng.uniform(*crop_sides)) for side in (width, height))
        left, top = rng.integers(0, width - crop_w + 1), rng.integers(0, height - crop_h + 1)
        out[f"crop{i}"] = photo.crop((left, top, left + crop_w, top + crop_h))
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=20)
    out["jpeg-q20"] = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    out["small"] = photo.resize((max(1, int(width * 0.35)), max(1, int(height * 0.35))), Image.Resampling.LANCZOS)
    out["mirror"] = ImageOps.mirror(photo)
    jittered = ImageEnhance.Brightness(photo).enhance(1.3)
    out["colour"] = ImageEnhance.Color(ImageEnhance.Contrast(jittered).enhance(0.75)).enhance(0.6)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "data" / "saliency")
    parser.add_argument("--out", type=Path, default=Path("/tmp/sanity-set"))
    parser.add_argument("--photos", type=int, default=60)
    parser.add_argument("--crop-sides", type=float, nargs=2, default=(0.5, 0.8), metavar=("MIN", "MAX"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    sources = sorted(args.source.glob("*/images/*.jpg"))
    rng = np.random.default_rng(args.seed)
    chosen = sorted(rng.choice(len(sources), size=min(args.photos, len(sources)), replace=False))
    for index in chosen:
        path = sources[index]
        label = f"{path.parts[-3]}-{path.stem}"
        (args.out / label).mkdir(parents=True, exist_ok=True)
        with Image.open(path) as photo:
            for name, image in edits(photo.convert("RGB"), rng, tuple(args.crop_sides)).items():
                image.save(args.out / label / f"{name}.png")  # PNG: only the intended edits degrade it
    print(json.dumps({"source": str(args.source), "out": str(args.out), "labels": len(chosen),
                      "photos_per_label": 7, "crop_sides": args.crop_sides, "seed": args.seed}))


if __name__ == "__main__":
    main()
