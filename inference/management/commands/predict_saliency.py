"""Write the production model's saliency map for every photo in a folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
from django.core.management.base import BaseCommand
from tqdm import tqdm

from inference.images import WORKING_MAX_SIDE, load_rgb, resize_map
from inference.management.commands._photos import photo_paths


class Command(BaseCommand):
    help = "Write OUT_DIR/<stem>.png: an 8-bit saliency map the size of each photo under IN_DIR."

    def add_arguments(self, parser):
        parser.add_argument("in_dir", type=Path)
        parser.add_argument("out_dir", type=Path)

    def handle(self, *args, in_dir: Path, out_dir: Path, **options):
        from inference.services import pipeline_get

        paths = photo_paths(in_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        pipeline = pipeline_get()
        failed = []
        for path in tqdm(paths, desc="Saliency", unit="photo", disable=options["verbosity"] == 0):
            try:
                data = path.read_bytes()
                # The same working copy the worker analyses, then back to the photo's own size.
                rgb = load_rgb(data, max_side=WORKING_MAX_SIDE)
                full_width, full_height = _upright_size(data)
                saliency = resize_map(pipeline.saliency(rgb), full_height, full_width)
            except (OSError, ValueError) as exc:
                failed.append(f"{path}: {exc}")
                continue
            out = (np.clip(saliency, 0, 1) * 255).round().astype(np.uint8)
            PIL.Image.fromarray(out, mode="L").save(out_dir / f"{path.stem}.png")
        self.stdout.write(f"Wrote {len(paths) - len(failed)} maps to {out_dir}.")
        for line in failed:
            self.stderr.write(f"  skipped {line}")


def _upright_size(data: bytes) -> tuple[int, int]:
    import io

    from PIL import ImageOps

    with PIL.Image.open(io.BytesIO(data)) as img:
        return ImageOps.exif_transpose(img).size
