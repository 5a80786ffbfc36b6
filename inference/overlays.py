"""Saliency maps as images: heat-map overlays and lossless greyscale PNGs.

Maps are float arrays in [0, 1] (values outside are clipped, NaN counts as
0). The overlay uses matplotlib's perceptually uniform "inferno" colormap,
rebuilt from its 11 published anchor colours by linear interpolation, so
brightness rises monotonically with saliency and reads correctly in
greyscale and for colour-blind viewers.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

# matplotlib "inferno" sampled at 0, 0.1, ..., 1.0 (#000004 ... #fcffa4).
_INFERNO = np.array(
    [
        (0, 0, 4),
        (22, 11, 57),
        (66, 10, 104),
        (106, 23, 110),
        (147, 38, 103),
        (188, 55, 84),
        (221, 81, 58),
        (243, 120, 25),
        (252, 165, 10),
        (246, 215, 70),
        (252, 255, 164),
    ],
    dtype=np.float64,
)
_ANCHORS = np.linspace(0.0, 1.0, len(_INFERNO))

#: Opacity at saliency 1: the photo stays visible under the hottest spots.
MAX_ALPHA = 210
#: alpha = MAX_ALPHA * s ** ALPHA_GAMMA; > 1 keeps the dim, low-saliency
#: bulk of a map nearly transparent so only salient regions are tinted.
ALPHA_GAMMA = 1.5


def _unit(saliency: np.ndarray) -> np.ndarray:
    """The map as a 2-D float64 array clipped to [0, 1], NaN as 0."""
    sal = np.asarray(saliency, dtype=np.float64)
    if sal.ndim != 2 or sal.size == 0:
        raise ValueError(f"expected a non-empty 2-D map, got shape {sal.shape}")
    return np.clip(np.nan_to_num(sal, nan=0.0), 0.0, 1.0)


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def saliency_overlay_rgba(saliency: np.ndarray) -> np.ndarray:
    """HxWx4 uint8 inferno heat map whose alpha grows with saliency."""
    sal = _unit(saliency)
    rgba = np.empty(sal.shape + (4,), dtype=np.uint8)
    for channel in range(3):
        rgba[..., channel] = np.rint(np.interp(sal, _ANCHORS, _INFERNO[:, channel]))
    rgba[..., 3] = np.rint(MAX_ALPHA * sal**ALPHA_GAMMA)
    return rgba


def saliency_overlay_png(saliency: np.ndarray, *, max_side: int = 1024) -> bytes:
    """RGBA PNG of the overlay, shrunk (aspect kept) so its long side is at
    most ``max_side``."""
    if max_side < 1:
        raise ValueError("max_side must be at least 1")
    sal = _unit(saliency)
    height, width = sal.shape
    scale = max_side / max(height, width)
    if scale < 1:
        # Resize the map, not the colours: interpolating RGBA would blend
        # colormap entries into colours the map never had.
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        sal = np.asarray(
            Image.fromarray(sal.astype(np.float32)).resize(size, Image.Resampling.BILINEAR)
        )
    return _png(saliency_overlay_rgba(sal))


def saliency_map_png(saliency: np.ndarray) -> bytes:
    """8-bit greyscale PNG of the map at its own size (0..1 -> 0..255)."""
    return _png(np.rint(_unit(saliency) * 255).astype(np.uint8))


def saliency_from_png(data: bytes) -> np.ndarray:
    """Inverse of :func:`saliency_map_png`: HxW float32 in [0, 1]."""
    with Image.open(io.BytesIO(data)) as image:
        grey = np.asarray(image.convert("L"))
    return grey.astype(np.float32) / 255.0
