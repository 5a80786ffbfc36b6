"""Install optional model files that are too big or not ours to ship in the repository."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Download, verify and install the authors' MSI-Net (VGG16, SALICON) SavedModel into "
        "SALIENCY_VGG16_PATH; offline, install it from a folder or archive fetched elsewhere."
    )

    def add_arguments(self, parser):
        parser.add_argument("model", choices=("msinet-vgg16",))
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--from-dir", type=Path, help="a folder holding the SavedModel (saved_model.pb ...)")
        source.add_argument("--from-archive", type=Path, help="a .zip or .tar(.gz) of the SavedModel")

    def handle(self, *args, model: str, from_dir: Path | None, from_archive: Path | None, **options):
        from inference.saliency.fetch import FetchError, fetch_msinet_vgg16

        try:
            installed = fetch_msinet_vgg16(settings.SALIENCY_VGG16_PATH, from_dir=from_dir, from_archive=from_archive)
        except FetchError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Installed {model} in {installed}. Use it with SALIENCY_MODEL={model}.")
