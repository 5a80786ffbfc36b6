"""What people are shown instead of the uploaded file: a re-encoded display copy and thumbnails.

Pure Pillow and numpy (web processes use it; no TensorFlow). Every rendition is decoded pixels
written out again as a fresh JPEG with no metadata, so nothing active that an upload might carry
(scripts in a polyglot file, ICC tricks, EXIF with GPS coordinates) is ever served back; only the
owner can download the original bytes.

Thumbnails are cropped to a fixed aspect ratio. Before a photo's saliency map exists the window
is centred; afterwards (the worker re-renders them) it is the window of that ratio that holds
the most saliency, so the subject stays in the frame.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import PIL.Image

from inference.images import upright_rgb  # noqa: F401 - part of this module's interface
from inference.overlays import saliency_from_png, saliency_overlay_png

DISPLAY_MAX_SIDE = 2048
JPEG_QUALITY = 86
#: A whole-photo heat map is drawn at least this large (pages show a 320-px photo up to 800 px wide).
OVERLAY_MIN_SIDE = 800


@dataclass(frozen=True)
class ThumbnailSpec:
    name: str
    aspect: float  # width / height
    width: int  # pixels; about twice the CSS size, for high-density screens

    @property
    def height(self) -> int:
        return round(self.width / self.aspect)


#: Square tiles for grids; 4:3 for album covers and wide layouts.
THUMBNAILS = {
    "square": ThumbnailSpec("square", 1.0, 400),
    "wide": ThumbnailSpec("wide", 4 / 3, 640),
}


def jpeg_bytes(image: PIL.Image.Image) -> bytes:
    buffer = io.BytesIO()
    if image.info:
        # Pillow writes some of the source's info back out (a JPEG comment, which can hold a
        # script in a polyglot file): keep pixels only.
        image = image.copy()
        image.info = {}
    # No exif=, no icc_profile=: the copy carries pixels only.
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return buffer.getvalue()


def display_rendition(rgb: PIL.Image.Image) -> bytes:
    """The copy pages show: at most DISPLAY_MAX_SIDE on its long side, JPEG, no metadata."""
    copy = rgb.copy()
    if max(copy.size) > DISPLAY_MAX_SIDE:
        copy.thumbnail((DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE), PIL.Image.Resampling.LANCZOS)
    return jpeg_bytes(copy)


def saliency_window(saliency: np.ndarray | None, aspect: float, size: tuple[int, int]
                    ) -> tuple[int, int, int, int]:
    """The largest (left, top, right, bottom) window of ``aspect`` inside a photo of ``size``
    (width, height), slid along its free axis to hold the most saliency mass.

    The window is as large as the ratio allows so a thumbnail keeps the subject's context; only
    its position follows the map. Without a map (or a flat one) it is centred.
    """
    width, height = size
    if width / height > aspect:
        win_w, win_h = max(1, round(height * aspect)), height
    else:
        win_w, win_h = width, max(1, round(width / aspect))
    free_axis_length, window_length = (width, win_w) if win_w < width else (height, win_h)
    horizontal = win_w < width
    start = (free_axis_length - window_length) // 2
    if saliency is not None and free_axis_length > window_length:
        sal = np.nan_to_num(np.maximum(np.asarray(saliency, dtype=np.float64), 0.0))
        profile = sal.sum(axis=0 if horizontal else 1)
        if profile.sum() > 0:
            # Resample the map's profile to photo pixels, then a sliding-window sum via cumsum.
            positions = np.linspace(0, len(profile) - 1, free_axis_length)
            per_pixel = np.interp(positions, np.arange(len(profile)), profile)
            cumulative = np.concatenate([[0.0], np.cumsum(per_pixel)])
            window_mass = cumulative[window_length:] - cumulative[:-window_length]
            best = window_mass.max()
            # Among equally good positions take the one nearest the centre.
            candidates = np.flatnonzero(window_mass >= best - 1e-9 * max(best, 1.0))
            start = int(candidates[np.abs(candidates - start).argmin()])
    if horizontal:
        return start, 0, start + win_w, win_h
    return 0, start, win_w, start + win_h


def thumbnail(rgb: PIL.Image.Image, spec: ThumbnailSpec, saliency: np.ndarray | None = None) -> bytes:
    box = saliency_window(saliency, spec.aspect, rgb.size)
    tile = rgb.crop(box)
    tile = tile.resize((spec.width, spec.height), PIL.Image.Resampling.LANCZOS, reducing_gap=3.0)
    return jpeg_bytes(tile)


def thumbnails(rgb: PIL.Image.Image, saliency: np.ndarray | None = None) -> dict[str, bytes]:
    """Every thumbnail spec rendered from one decoded photo."""
    return {name: thumbnail(rgb, spec, saliency) for name, spec in THUMBNAILS.items()}


def saliency_focus(saliency: np.ndarray) -> float:
    """How clearly a photo has one subject: the saliency mass in its densest eighth of the area.

    A uniform map scores 0.125, a single sharp subject close to 1. Album covers prefer high scores.
    """
    flat = np.sort(np.nan_to_num(np.maximum(np.asarray(saliency, dtype=np.float64), 0.0)).ravel())[::-1]
    total = flat.sum()
    if total <= 0:
        return 0.0
    return float(flat[: max(1, flat.size // 8)].sum() / total)


def overlay_rendition(saliency_png: bytes, spec: ThumbnailSpec | None = None) -> bytes:
    """The heat-map overlay PNG drawn from a stored 8-bit saliency map in the current look
    (inference.overlays), so a new look needs no re-analysis: the whole photo's, or, with
    ``spec``, cropped to the window that thumbnail shows (so it lines up with a result tile) at
    the tile's CSS size.
    """
    saliency = saliency_from_png(saliency_png)
    height, width = saliency.shape
    if spec is None:
        if max(height, width) < OVERLAY_MIN_SIDE:
            # A small photo's map, so that its outline stays sharp where the page scales it up.
            scale = OVERLAY_MIN_SIDE / max(height, width)
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            saliency = np.asarray(PIL.Image.fromarray(saliency, mode="F").resize(size, PIL.Image.Resampling.BILINEAR))
        return saliency_overlay_png(saliency)
    left, top, right, bottom = saliency_window(saliency, spec.aspect, (width, height))
    # Crop and resize the map, then colour it: the outline is drawn at the tile's own pixels.
    window = PIL.Image.fromarray(saliency[top:bottom, left:right], mode="F")
    tile = window.resize((spec.width // 2, spec.height // 2), PIL.Image.Resampling.BILINEAR)
    return saliency_overlay_png(np.asarray(tile))
