"""Learn the default embedder's view-whitened 128-D projection from unlabelled photos."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inference.management.commands._photos import photo_paths

DEFAULT_VIEWS = 6
DEFAULT_SHRINKAGE = 0.03


class Command(BaseCommand):
    help = (
        "Learn the lite0-vw128 projection without labels: every photo under the given folders is its own "
        "class, its simulated re-shoots the members (inference.embedding.view_whitening). Writes "
        "OUT/projection.npz (float16, the head format) and OUT/training.json. Never train it on the photos "
        "you evaluate on."
    )

    def add_arguments(self, parser):
        parser.add_argument("photos", type=Path, nargs="+", help="folders of unlabelled photos (searched recursively)")
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--views", type=int, default=DEFAULT_VIEWS, help="per photo: the whole frame + shots")
        parser.add_argument("--shrinkage", type=float, default=DEFAULT_SHRINKAGE,
                            help="share of the largest within-photo variance added before whitening")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--backbone", default="lite0",
                            help="EfficientNet-Lite variant whose pooled features are projected (lite0, lite1, lite2)")
        parser.add_argument("--features-cache", type=Path, help="keep backbone features in this .npz between runs")
        parser.add_argument("--mirror-average", action="store_true",
                            help="average each view's features with its mirror image's, for an embedder that "
                                 "serves whole photos so (lite0-vw128-mirror)")

    def handle(self, *args, photos: list[Path], out: Path, views: int, shrinkage: float, seed: int,
               features_cache: Path | None, backbone: str, mirror_average: bool, **options):
        from inference.embedding.backbone import LITE_VARIANTS
        from inference.embedding.training import LabelledPhotos, features_extract
        from inference.embedding.view_whitening import shot_view, view_whitening_fit
        from inference.versions import EMBEDDING_DIM

        if views < 2:
            raise CommandError("--views must be at least 2: the whole frame and one shot")
        if backbone not in LITE_VARIANTS:
            raise CommandError(f"--backbone must be one of {', '.join(LITE_VARIANTS)}, not {backbone!r}")
        started = time.perf_counter()
        paths = [path for folder in photos for path in photo_paths(folder)]
        scanned = LabelledPhotos(paths, np.arange(len(paths)), [])
        features, readable = features_extract(
            scanned, settings.MODEL_CACHE_DIR, views, seed, log=self.stderr.write,
            progress=options["verbosity"] > 0, features_cache=features_cache, augment=shot_view,
            variant=LITE_VARIANTS[backbone], mirror_average=mirror_average,
        )
        report = {"photos": [str(p) for p in photos], "backbone": backbone, "photos_used": int(readable.sum()),
                  "views": views,
                  "shrinkage": shrinkage, "seed": seed, "skipped": scanned.skipped}
        if mirror_average:  # only then: lite0-vw128's projection file (and its pinned hash) stays as it was
            report["mirror_average"] = True
        head = view_whitening_fit(features[readable], dim=EMBEDDING_DIM, shrinkage=shrinkage, meta=report)
        out.mkdir(parents=True, exist_ok=True)
        head.save(out / "projection.npz")
        report["train_seconds"] = round(time.perf_counter() - started, 1)
        (out / "training.json").write_text(json.dumps(report, indent=2) + "\n")
        self.stdout.write(f"Wrote {out / 'projection.npz'} from {report['photos_used']} photos x {views} views.")
