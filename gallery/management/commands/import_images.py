"""Bulk import a folder of photos through the same service as every upload."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from gallery import services
from gallery.models import Visibility
from gallery.platform.priority import process_niceness_raise


class Command(BaseCommand):
    help = "Import every file under DIR (recursively) into a user's gallery; analysis is queued for each."

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path)
        parser.add_argument("--user", required=True, help="username of the owner")
        parser.add_argument("--public", action="store_true", help="make the photos public (default: private)")

    def handle(self, *args, directory: Path, user: str, public: bool, **options):
        owner = get_user_model().objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"No user named “{user}”. "
                               "Create one with `python manage.py createsuperuser` or sign up.")
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a directory.")
        files = sorted(p for p in directory.rglob("*") if p.is_file() and not p.name.startswith("."))
        visibility = Visibility.PUBLIC if public else Visibility.PRIVATE
        # A bulk import is background work like the workers' (decoding, renditions): at their CPU
        # priority, so people browsing the site meanwhile are served first.
        process_niceness_raise(niceness=settings.WORKER_NICENESS)

        imported, duplicates = 0, 0
        rejected: list[tuple[Path, str, str]] = []  # (path, code, message)
        for path in tqdm(files, desc="Importing", unit="photo", disable=options["verbosity"] == 0):
            try:
                services.image_create(owner=owner, data=path.read_bytes(), filename=path.name, visibility=visibility)
                imported += 1
            except services.DuplicateImage:
                duplicates += 1
            except services.ImageRejected as exc:
                rejected.append((path, exc.code, exc.message))
            except OSError as exc:
                rejected.append((path, "unreadable", f"Could not read the file ({exc.strerror})."))

        self.stdout.write(f"Imported {imported}, duplicates {duplicates}, rejected {len(rejected)} "
                          f"(of {len(files)} files in {directory}).")
        for code, count in Counter(code for _, code, _ in rejected).most_common():
            self.stdout.write(f"  {count} rejected as {code.replace('_', ' ')}")
        for path, _, message in rejected:
            self.stdout.write(f"  {path.relative_to(directory)}: {message}")
