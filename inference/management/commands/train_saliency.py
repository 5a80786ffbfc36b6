"""Train the fast (EfficientNet-Lite0) MSI-Net saliency model on fixation datasets."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Train the Lite0 MSI-Net head on the train split of each DATASET_DIR (images/, maps/, fixations/); "
        "checkpoints go to --out and a rerun resumes from the last one."
    )

    def add_arguments(self, parser):
        from inference.saliency.training import TrainConfig

        defaults = TrainConfig()
        parser.add_argument("--data", type=Path, nargs="+", required=True, metavar="DATASET_DIR")
        parser.add_argument("--out", type=Path, required=True, help="run folder: feature cache, checkpoints, weights")
        parser.add_argument("--epochs", type=int, default=defaults.epochs)
        parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
        parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)

    def handle(self, *args, data: list[Path], out: Path, epochs: int, batch_size: int, learning_rate: float, **options):
        from inference.saliency.data import DatasetError
        from inference.saliency.training import TrainConfig, train_saliency

        config = TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate)
        try:
            weights = train_saliency(
                data, out, settings.MODEL_CACHE_DIR, config,
                progress=options["verbosity"] > 0, log=self.stdout.write,
            )
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Trained weights: {weights} (copy to inference/weights/ to ship them).")
