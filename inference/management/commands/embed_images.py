"""Embed every photo in a folder exactly as the pipeline does, into an .npz file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand

from inference.management.commands._photos import photos_decoded


class Command(BaseCommand):
    help = "Write OUT.npz with arrays `paths` (relative to IN_DIR) and `vectors` (N x D, unit norm)."

    def add_arguments(self, parser):
        parser.add_argument("in_dir", type=Path)
        parser.add_argument("out", type=Path)
        parser.add_argument("--no-crop", action="store_true",
                            help="embed the whole photo only (default: fuse whole photo and salient crop)")

    def handle(self, *args, in_dir: Path, out: Path, no_crop: bool, **options):
        from inference.services import pipeline_get

        pipeline = pipeline_get()
        kept, vectors, failed = [], [], []
        for path, rgb in photos_decoded(in_dir, failed=failed, desc="Embedding", progress=options["verbosity"] > 0):
            vector = pipeline.embed([rgb])[0] if no_crop else pipeline.analyze(rgb).vector
            kept.append(str(path.relative_to(in_dir)))
            vectors.append(vector)
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez(out, paths=np.array(kept, dtype=str), vectors=np.stack(vectors).astype(np.float32))
        self.stdout.write(f"Wrote {len(kept)} vectors of dimension {vectors[0].shape[0]} to {out}.")
        for line in failed:
            self.stderr.write(f"  skipped {line}")
