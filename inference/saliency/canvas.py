"""Fitting photos of any shape onto the few canvas sizes the networks run at, and back.

MSI-Net's authors resize each image, keeping its aspect ratio, into the nearest of three canvases
(240x320, 320x240, 320x320), pad the rest, and crop the padding off the output. We do the same,
so panoramas, portraits and tiny photos get a map of their own size without distortion, and the
network sees only three shapes (three traces, stable timings).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import PIL.Image

#: (height, width) canvases, as in the authors' pre-processing.
CANVASES = ((240, 320), (320, 240), (320, 320))
#: Pad value: mid-grey, which both encoders' normalisations map to about zero.
PAD_VALUE = 127


class Placement(NamedTuple):
    """Where the photo sits on its canvas, in canvas pixels."""

    canvas: tuple[int, int]  # (height, width)
    top: int
    left: int
    height: int
    width: int


def canvas_for(height: int, width: int) -> tuple[int, int]:
    """The canvas whose aspect ratio (h / w) is nearest the photo's."""
    aspect = height / width
    return min(CANVASES, key=lambda c: abs(c[0] / c[1] - aspect))


def placement_for(height: int, width: int) -> Placement:
    """Largest aspect-preserving fit of a height x width photo, centred on its canvas."""
    if height < 1 or width < 1:
        raise ValueError("image must not be empty")
    canvas = canvas_for(height, width)
    scale = min(canvas[0] / height, canvas[1] / width)
    fit_h = min(canvas[0], max(1, round(height * scale)))
    fit_w = min(canvas[1], max(1, round(width * scale)))
    return Placement(canvas, (canvas[0] - fit_h) // 2, (canvas[1] - fit_w) // 2, fit_h, fit_w)


def as_rgb(image: np.ndarray) -> np.ndarray:
    """HxW grey, HxWx3 RGB or HxWx4 RGBA (alpha dropped) as HxWx3 uint8."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    elif not (image.ndim == 3 and image.shape[2] in (3, 4)):
        raise ValueError(f"expected an HxW, HxWx3 or HxWx4 image, got shape {image.shape}")
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8, copy=False)


def to_canvas(image: np.ndarray, pad_value: int = PAD_VALUE) -> tuple[np.ndarray, Placement]:
    """Resize (aspect kept) and pad an image onto its canvas: (canvas HxWx3 uint8, placement)."""
    rgb = as_rgb(image)
    place = placement_for(*rgb.shape[:2])
    canvas = np.full((*place.canvas, 3), pad_value, dtype=np.uint8)
    fitted = rgb
    if rgb.shape[:2] != (place.height, place.width):
        # reducing_gap: big photos are box-reduced first, 2-3x faster and invisible after the shrink.
        fitted = np.asarray(
            PIL.Image.fromarray(rgb).resize(
                (place.width, place.height), PIL.Image.Resampling.BILINEAR, reducing_gap=3.0
            )
        )
    canvas[place.top : place.top + place.height, place.left : place.left + place.width] = fitted
    return canvas, place


def map_to_canvas(density: np.ndarray, place: Placement, out_shape: tuple[int, int]) -> np.ndarray:
    """A photo-sized map placed like the photo, at ``out_shape`` (the network's output size)."""
    canvas = np.zeros(place.canvas, dtype=np.float32)
    fitted = PIL.Image.fromarray(np.asarray(density, dtype=np.float32)).resize(
        (place.width, place.height), PIL.Image.Resampling.BILINEAR
    )
    canvas[place.top : place.top + place.height, place.left : place.left + place.width] = np.asarray(fitted)
    if canvas.shape == out_shape:
        return canvas
    return np.asarray(PIL.Image.fromarray(canvas).resize(out_shape[::-1], PIL.Image.Resampling.BILINEAR))


def from_canvas(output: np.ndarray, place: Placement, height: int, width: int) -> np.ndarray:
    """Crop the photo's region off a canvas-shaped output map (any resolution) and resize it to
    height x width, in one resampling step."""
    scale_y = output.shape[0] / place.canvas[0]
    scale_x = output.shape[1] / place.canvas[1]
    box = (
        place.left * scale_x,
        place.top * scale_y,
        (place.left + place.width) * scale_x,
        (place.top + place.height) * scale_y,
    )
    resized = PIL.Image.fromarray(np.asarray(output, dtype=np.float32)).resize(
        (width, height), PIL.Image.Resampling.BILINEAR, box=box
    )
    return np.asarray(resized, dtype=np.float32)
