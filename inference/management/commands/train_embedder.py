"""Train a 128-D ArcFace embedding head on a folder of labelled photos."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inference.embedding.training import TrainConfig, TrainingDataError, embedder_train

DEFAULTS = TrainConfig()


class Command(BaseCommand):
    help = (
        "Train an ArcFace head on DATA/<label>/*.jpg (backbone frozen, features cached) and write "
        "OUT/head.npz, OUT/README.md and OUT/metrics.json. Empty classes, unreadable photos and classes "
        "with fewer than 2 readable photos are skipped and listed; fewer than 2 usable classes is an error."
    )

    def add_arguments(self, parser):
        parser.add_argument("--data", type=Path, required=True,
                            help="folder with one sub-folder of photos per label")
        parser.add_argument("--out", type=Path, required=True, help="folder for head.npz, README.md, metrics.json")
        parser.add_argument("--views", type=int, default=DEFAULTS.views,
                            help="cached views per photo (1 = whole frame only)")
        parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
        parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
        parser.add_argument("--learning-rate", type=float, default=DEFAULTS.learning_rate)
        parser.add_argument("--margin", type=float, default=DEFAULTS.margin,
                            help="ArcFace additive angular margin m (radians)")
        parser.add_argument("--scale", type=float, default=DEFAULTS.scale, help="ArcFace logit scale s")
        parser.add_argument("--dropout", type=float, default=DEFAULTS.dropout)
        parser.add_argument("--whitening-shrinkage", type=float, default=DEFAULTS.whitening_shrinkage,
                            help="regularises the supervised-whitening start of the head")
        parser.add_argument("--val-fraction", type=float, default=DEFAULTS.val_fraction,
                            help="share of classes held out to validate the recipe (0: none)")
        parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
        parser.add_argument("--crop-weight", type=float, default=DEFAULTS.crop_weight,
                            help="weight of the salient crop in the served search vector (recorded in the head file)")
        parser.add_argument("--mirror-average", action="store_true",
                            help="train on views averaged with their mirror image's; the head file says so, and "
                                 "the embedder serves its whole photos averaged with their mirror image's")
        parser.add_argument("--features-cache", type=Path, help="keep backbone features in this .npz between runs")

    def handle(self, *args, data: Path, out: Path, features_cache: Path | None, **options):
        fields = TrainConfig.__dataclass_fields__
        config = TrainConfig(**{name: options[name] for name in fields})
        try:
            report = embedder_train(
                data, out, settings.MODEL_CACHE_DIR, config, log=self.stderr.write,
                progress=options["verbosity"] > 0, features_cache=features_cache,
            )
        except TrainingDataError as exc:
            raise CommandError(str(exc)) from exc
        used = f"{report['photos_used']} photos, {len(report['classes'])} classes"
        self.stdout.write(f"Wrote {out / 'head.npz'} ({used}).")
        self.stdout.write((out / "README.md").read_text())
