"""Decoding photos into the arrays the models read. Pure Pillow and numpy."""

from __future__ import annotations

import io

import numpy as np
import PIL.Image
from PIL import ImageOps

# File name endings the folder commands and training treat as photos (formats image_create accepts).
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})

# Saliency, crops and overlays work on a copy whose long side is at most this: the maps are
# smooth, and the embedder reads 224 px anyway, so more pixels only cost time and memory.
WORKING_MAX_SIDE = 1024


def upright_rgb(image: PIL.Image.Image) -> PIL.Image.Image:
    """EXIF orientation applied, transparency flattened onto white, 8-bit RGB.

    The one decoding rule for models and for what pages show (gallery.renditions), so a photo
    is analysed exactly as people see it.
    """
    upright = ImageOps.exif_transpose(image)
    if upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info):
        rgba = upright.convert("RGBA")
        background = PIL.Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        upright = PIL.Image.alpha_composite(background, rgba)
    if upright.mode.startswith("I;16"):
        # 16-bit greyscale: convert("RGB") would clip, not scale, the 0-65535 range.
        upright = PIL.Image.fromarray((np.asarray(upright, dtype=np.uint16) >> 8).astype(np.uint8))
    return upright.convert("RGB")


def load_rgb(data: bytes, *, max_side: int | None = None) -> np.ndarray:
    """Decode to an upright HxWx3 uint8 RGB array; transparency is flattened onto white."""
    with PIL.Image.open(io.BytesIO(data)) as img:
        img.load()
        rgb = upright_rgb(img)
        if max_side is not None and max(rgb.size) > max_side:
            rgb.thumbnail((max_side, max_side), PIL.Image.Resampling.LANCZOS)
        return np.asarray(rgb, dtype=np.uint8)


def resize_map(saliency: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize a float saliency map to (height, width) with bilinear interpolation."""
    if saliency.shape == (height, width):
        return saliency
    resized = PIL.Image.fromarray(saliency.astype(np.float32), mode="F").resize(
        (width, height), PIL.Image.Resampling.BILINEAR
    )
    return np.asarray(resized, dtype=np.float32)


def scale_box(box: tuple[int, int, int, int], from_size: tuple[int, int], to_size: tuple[int, int]
              ) -> tuple[int, int, int, int]:
    """Map a (left, top, right, bottom) box between two sizes given as (width, height)."""
    sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    left, top, right, bottom = box
    return (
        int(np.floor(left * sx)),
        int(np.floor(top * sy)),
        max(int(np.floor(left * sx)) + 1, min(to_size[0], int(np.ceil(right * sx)))),
        max(int(np.floor(top * sy)) + 1, min(to_size[1], int(np.ceil(bottom * sy)))),
    )
