"""Helpers shared by the model commands: finding and decoding the photos under a folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from django.core.management.base import CommandError
from tqdm import tqdm

from inference.images import PHOTO_SUFFIXES, WORKING_MAX_SIDE, load_rgb


def photo_paths(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise CommandError(f"{directory} is not a directory.")
    paths = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
    if not paths:
        raise CommandError(f"No photos ({', '.join(sorted(PHOTO_SUFFIXES))}) under {directory}.")
    return paths


def photos_decoded(directory: Path, *, failed: list[str], desc: str,
                   progress: bool) -> Iterator[tuple[Path, np.ndarray]]:
    """(path, RGB working copy) for each photo under ``directory``, decoded as the worker does;
    unreadable ones are appended to ``failed`` instead, for the command to list."""
    for path in tqdm(photo_paths(directory), desc=desc, unit="photo", disable=not progress):
        try:
            yield path, load_rgb(path.read_bytes(), max_side=WORKING_MAX_SIDE)
        except (OSError, ValueError) as exc:
            failed.append(f"{path}: {exc}")
