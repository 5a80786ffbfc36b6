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

# What Pillow raises for a file it cannot decode (UnidentifiedImageError and "image file is
# truncated" are OSErrors; some plugins raise ValueError, SyntaxError or EOFError).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError)


def decode_failure_message(exc: BaseException) -> str:
    """Why a photo cannot be decoded, in words for the person who sent it.

    Pillow's own text ("image file is truncated (16 bytes not processed)") counts the bytes of
    its last read, not what is missing, and means nothing to most people: log it, show this.
    """
    if isinstance(exc, PIL.UnidentifiedImageError):
        return "This file is not an image we can read (JPEG, PNG, WebP, GIF, BMP or TIFF)."
    text = str(exc).lower()
    if isinstance(exc, EOFError) or "truncated" in text or "end of file" in text:
        return ("The image is damaged or truncated: the file seems to be cut short, as after an interrupted "
                "download or copy. Try the complete original file.")
    return ("The image is damaged or truncated: part of its data is corrupt and cannot be decoded. "
            "Try the original file, or save it again from a photo editor.")


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
