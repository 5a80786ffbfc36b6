"""Score a saliency model on a fixation dataset, side by side with the centre-bias baseline."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inference.versions import SALIENCY_VERSIONS


class Command(BaseCommand):
    help = (
        "Print AUC-Judd, shuffled AUC, NSS, CC, KLD and SIM (MIT saliency benchmark) of a model and of a "
        "centre-bias baseline on DATASET_DIR (images/, maps/, fixations/)."
    )

    def add_arguments(self, parser):
        parser.add_argument("dataset_dir", type=Path)
        parser.add_argument("--model", choices=sorted(SALIENCY_VERSIONS), help="default: the SALIENCY_MODEL setting")
        parser.add_argument(
            "--split", choices=("val", "train", "all"), default="val",
            help="val: the images train_saliency holds out (every 5th by name); all: a dataset not trained on",
        )

    def handle(self, *args, dataset_dir: Path, model: str | None, split: str, **options):
        from inference.saliency.data import DatasetError
        from inference.saliency.evaluation import METRICS, evaluate_saliency
        from inference.saliency.models import SaliencyModelError, saliency_model_build

        name = model or settings.SALIENCY_MODEL
        try:
            saliency = saliency_model_build(
                name, cache_dir=settings.MODEL_CACHE_DIR, vgg16_path=settings.SALIENCY_VGG16_PATH
            )
            means, count = evaluate_saliency(dataset_dir, saliency.predict, split, progress=options["verbosity"] > 0)
        except (DatasetError, SaliencyModelError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{dataset_dir.name}, split {split}, {count} images; model {name} ({saliency.version})")
        self.stdout.write(f"{'metric':<10}{'model':>10}{'centre':>10}")
        for metric in METRICS:
            self.stdout.write(f"{metric:<10}{means['model'][metric]:>10.3f}{means['centre'][metric]:>10.3f}")
