"""Fixation datasets on disk: DIR/images/<stem>.<ext>, DIR/maps/<stem>.png (fixation density,
8-bit grey) and DIR/fixations/<stem>.png (binary fixation points), as in ../shared/data/saliency.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")

#: Validation split: every VALIDATION_EVERY-th image of each dataset in sorted-name order, from the
#: VALIDATION_OFFSET-th on. Deterministic, and spread evenly over each dataset's numbering.
VALIDATION_EVERY = 5
VALIDATION_OFFSET = 4


class DatasetError(ValueError):
    """A dataset folder is incomplete or a file in it cannot be read."""


@dataclass(frozen=True)
class Sample:
    image: Path
    density: Path
    fixations: Path

    @property
    def name(self) -> str:
        return self.image.stem


def dataset_samples(directory: Path, *, need_fixations: bool = True) -> list[Sample]:
    """Every image of a dataset folder with its maps, sorted by name; a missing map is an error."""
    directory = Path(directory)
    images_dir = directory / "images"
    if not images_dir.is_dir():
        raise DatasetError(f"{images_dir} is missing: a dataset folder holds images/, maps/ and fixations/.")
    images = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DatasetError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {images_dir}")
    samples = []
    for image in images:
        density = directory / "maps" / f"{image.stem}.png"
        fixations = directory / "fixations" / f"{image.stem}.png"
        for path in (density, fixations) if need_fixations else (density,):
            if not path.is_file():
                raise DatasetError(f"{path} is missing (needed for {image})")
        samples.append(Sample(image, density, fixations))
    return samples


def split_samples(samples: list[Sample], split: str) -> list[Sample]:
    """``train``, ``val`` or ``all`` of a dataset's sorted samples (see VALIDATION_EVERY)."""
    if split == "all":
        return list(samples)
    is_val = [i % VALIDATION_EVERY == VALIDATION_OFFSET for i in range(len(samples))]
    if split == "val":
        return [s for s, v in zip(samples, is_val, strict=True) if v]
    if split == "train":
        return [s for s, v in zip(samples, is_val, strict=True) if not v]
    raise ValueError(f"unknown split {split!r}: use train, val or all")


def read_rgb(path: Path) -> np.ndarray:
    """HxWx3 uint8 RGB; a file Pillow cannot decode is a DatasetError naming it."""
    try:
        with PIL.Image.open(path) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read image {path}: {exc}") from exc


def read_grey(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """HxW uint8 map that must match its image's (height, width)."""
    try:
        with PIL.Image.open(path) as img:
            grey = np.asarray(img.convert("L"), dtype=np.uint8)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read map {path}: {exc}") from exc
    if grey.shape != shape:
        raise DatasetError(f"{path} is {grey.shape[1]}x{grey.shape[0]}, its image is {shape[1]}x{shape[0]}")
    return grey
