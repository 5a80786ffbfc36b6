"""Helpers shared by the model commands: finding photos under a folder, loading models."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


def photo_paths(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise CommandError(f"{directory} is not a directory.")
    paths = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
    if not paths:
        raise CommandError(f"No photos ({', '.join(sorted(PHOTO_SUFFIXES))}) under {directory}.")
    return paths
