"""Saliency maps as images: the heat map laid over photos, its legend, and lossless greyscale PNGs.

The one place the heat map's look is decided. Pages and the API render it on request from the
stored 8-bit map (inference.images.overlay_rendition), so a new look needs no re-analysis.

Maps are float arrays in [0, 1] (values outside are clipped, NaN counts as 0); every model's map
peaks at 1. The look:

- Colour: matplotlib's perceptually uniform "inferno" colour map, rebuilt from its 11 published
  anchor colours by linear interpolation, so brightness rises monotonically with saliency and
  reads correctly in greyscale and for colour-blind viewers.
- Opacity follows saliency: transparent where nobody looks, nearly opaque at the peak.
- An outline around the region holding half the peak's saliency, a light line inside a dark one,
  so the hot region stands out on dark and on light photos alike (a yellow tint alone vanishes on
  a white wall, a purple one on a night sky).
"""

from __future__ import annotations

import functools
import hashlib
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

#: Opacity at saliency 1: the photo's own detail still shows under the hottest spot.
MAX_ALPHA = 225
#: Opacity is MAX_ALPHA * smoothstep(ALPHA_START, 1, s): nothing below ALPHA_START (where nobody
#: looks the photo stays untouched), half at about 0.5, and still rising up to the peak, so the
#: strongest spots stay distinguishable.
ALPHA_START = 0.05
#: The outline follows the level where saliency is this share of the peak.
OUTLINE_LEVEL = 0.5
#: Each of the outline's two lines (light inside, dark outside) is this share of the long side
#: wide, at least one pixel: about 2 px on an 800-px overlay, which pages show 330 to 900 px
#: wide, and 1 px on a 200-px result tile.
OUTLINE_WIDTH = 1 / 400
_OUTLINE_LIGHT = (255, 255, 255, 235)
_OUTLINE_DARK = (20, 12, 30, 200)

# The overlay is an 8-bit palette PNG: 200 heat levels (steps of 0.005 in saliency, invisible on
# maps this smooth) and 28 coverage levels for each line of the outline. Every pixel is an entry
# of this table, so nothing is quantised, and the file is less than half the size of the same
# overlay in RGBA and encodes about six times faster (bench/overlay.py).
_HEAT_LEVELS = 200
_LINE_LEVELS = 28
_LIGHT_BASE = _HEAT_LEVELS
_DARK_BASE = _HEAT_LEVELS + _LINE_LEVELS
# The outline is looked for only where saliency is this close to OUTLINE_LEVEL. A 2 x 2.5 px line
# reaches further only where the map climbs more than 0.04 a pixel (0.5 to 0.65 within 3.5 px);
# there it comes out narrower, never broken.
_NEAR_LEVEL = 0.15


def _unit(saliency: np.ndarray) -> np.ndarray:
    """The map as a 2-D float32 array clipped to [0, 1], NaN as 0."""
    sal = np.asarray(saliency, dtype=np.float32)
    if sal.ndim != 2 or sal.size == 0:
        raise ValueError(f"expected a non-empty 2-D map, got shape {sal.shape}")
    return np.clip(np.nan_to_num(sal, nan=0.0), 0.0, 1.0)


def _heat(levels: np.ndarray) -> np.ndarray:
    """Nx4 float: colour and opacity of the heat map at saliency ``levels``."""
    rgba = np.empty(levels.shape + (4,), dtype=np.float64)
    for channel in range(3):
        rgba[:, channel] = np.interp(levels, _ANCHORS, _INFERNO[:, channel])
    t = np.clip((levels - ALPHA_START) / (1.0 - ALPHA_START), 0.0, 1.0)
    rgba[:, 3] = MAX_ALPHA * t * t * (3.0 - 2.0 * t)
    return rgba


def _over(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Porter-Duff "over" of straight-alpha RGBA rows (0-255 floats)."""
    top_a, bottom_a = top[:, 3:] / 255.0, bottom[:, 3:] / 255.0
    out_a = top_a + bottom_a * (1.0 - top_a)
    colour = (top[:, :3] * top_a + bottom[:, :3] * bottom_a * (1.0 - top_a)) / np.maximum(out_a, 1e-9)
    return np.concatenate([colour, out_a * 255.0], axis=1)


@functools.cache
def _palette() -> np.ndarray:
    """256x4 uint8: every colour an overlay pixel can have (heat levels, then the outline's)."""
    heat = _heat(np.linspace(0.0, 1.0, _HEAT_LEVELS))
    # An outline pixel lies within a few pixels of the level line, so the heat under it is the
    # heat at OUTLINE_LEVEL to within a few of the 200 levels: blend over that.
    under = np.repeat(_heat(np.array([OUTLINE_LEVEL])), _LINE_LEVELS, axis=0)
    coverage = np.linspace(1.0 / _LINE_LEVELS, 1.0, _LINE_LEVELS)[:, None]
    lines = [_over(np.hstack([np.tile(colour[:3], (_LINE_LEVELS, 1)), colour[3] * coverage]), under)
             for colour in (np.array(_OUTLINE_LIGHT, float), np.array(_OUTLINE_DARK, float))]
    table = np.zeros((256, 4), dtype=np.float64)
    table[: _DARK_BASE + _LINE_LEVELS] = np.vstack([heat, *lines])
    # Fully transparent entries share one colour (inferno's first), so they compress to nothing.
    table[np.rint(table[:, 3]) == 0, :3] = heat[0, :3]
    table = np.rint(table).astype(np.uint8)
    table.setflags(write=False)
    return table


@functools.cache
def overlay_look() -> str:
    """A short name for the current look (every colour and opacity, and the outline's geometry).
    Heat-map URLs carry it, so a browser that keeps one for a day never keeps an old look."""
    geometry = repr((OUTLINE_LEVEL, OUTLINE_WIDTH, _NEAR_LEVEL)).encode()
    return hashlib.sha1(_palette().tobytes() + geometry).hexdigest()[:8]


def _heat_indices(sal: np.ndarray) -> np.ndarray:
    return np.rint(sal * (_HEAT_LEVELS - 1)).astype(np.uint8)


def saliency_overlay_rgba(saliency: np.ndarray) -> np.ndarray:
    """HxWx4 uint8 inferno heat map whose opacity grows with saliency (no outline)."""
    return _palette()[_heat_indices(_unit(saliency))]


def _smoothed(sal: np.ndarray, factor: int) -> np.ndarray:
    """The map averaged over ``factor``-pixel blocks and interpolated back up (bicubic): smooth
    slopes for the distance estimate, the level line moved by a fraction of a pixel at most."""
    height, width = sal.shape
    image = Image.fromarray(sal, mode="F")
    small = image.resize((max(1, -(-width // factor)), max(1, -(-height // factor))), Image.Resampling.BOX)
    return np.asarray(small.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32)


def _outline_draw(indices: np.ndarray, sal: np.ndarray) -> None:
    """Draw the two-tone, anti-aliased line along OUTLINE_LEVEL into palette ``indices``."""
    width = max(1.0, OUTLINE_WIDTH * max(sal.shape))
    # Stored maps are 8-bit, so their slopes are staircases: smooth first, or the distance
    # estimate below (and so the line's width) would jump from pixel to pixel.
    smooth = _smoothed(sal, max(2, round(width)))
    # Slopes only near the level (central differences, one-sided at the edges): the line is a
    # thin band, and slopes everywhere cost more than the rest of the overlay together.
    rows, cols = np.nonzero(np.abs(smooth - OUTLINE_LEVEL) < _NEAR_LEVEL)
    height, width_px = smooth.shape
    up, down = np.maximum(rows - 1, 0), np.minimum(rows + 1, height - 1)
    left, right = np.maximum(cols - 1, 0), np.minimum(cols + 1, width_px - 1)
    gy = (smooth[down, cols] - smooth[up, cols]) / np.maximum(down - up, 1)
    gx = (smooth[rows, right] - smooth[rows, left]) / np.maximum(right - left, 1)
    slope = np.hypot(gx, gy)
    # Signed distance to the level line in pixels (positive inside), to first order; only
    # pixels within the line's reach are drawn.
    level = smooth[rows, cols] - OUTLINE_LEVEL
    near = np.abs(level) < slope * (width + 1.0)
    rows, cols = rows[near], cols[near]
    distance = level[near] / slope[near]
    light = np.clip(np.minimum(distance + 0.5, width + 0.5 - distance), 0.0, 1.0)  # inside
    dark = np.clip(np.minimum(0.5 - distance, width + 0.5 + distance), 0.0, 1.0)  # outside
    is_light = light >= dark
    coverage = np.rint(np.where(is_light, light, dark) * _LINE_LEVELS).astype(np.int64)
    drawn = coverage > 0
    base = np.where(is_light, _LIGHT_BASE, _DARK_BASE)
    indices[rows[drawn], cols[drawn]] = base[drawn] + coverage[drawn] - 1


def saliency_overlay_png(saliency: np.ndarray, *, max_side: int = 1024) -> bytes:
    """Palette PNG (with per-entry alpha) of the overlay: heat map and outline, shrunk (aspect
    kept) so its long side is at most ``max_side``."""
    if max_side < 1:
        raise ValueError("max_side must be at least 1")
    sal = _unit(saliency)
    height, width = sal.shape
    scale = max_side / max(height, width)
    if scale < 1:
        # Resize the map, not the colours: interpolating RGBA would blend
        # colormap entries into colours the map never had.
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        sal = np.asarray(Image.fromarray(sal, mode="F").resize(size, Image.Resampling.BILINEAR))
    indices = _heat_indices(sal)
    _outline_draw(indices, sal)
    image = Image.fromarray(indices, mode="P")
    palette = _palette()
    image.putpalette(palette[:, :3].tobytes())
    buffer = io.BytesIO()
    # Level 3: overlays are drawn per request; level 6 took about twice as long for a file about
    # 30 % smaller (bench/overlay.py).
    image.save(buffer, format="PNG", transparency=palette[:, 3].tobytes(), compress_level=3)
    return buffer.getvalue()


@functools.cache
def saliency_legend_png(width: int = 160, height: int = 12) -> bytes:
    """The legend: saliency 0 (left) to 1 (right) in the overlay's colours and opacity."""
    buffer = io.BytesIO()
    Image.fromarray(saliency_overlay_rgba(np.tile(np.linspace(0.0, 1.0, width), (height, 1)))).save(buffer, "PNG")
    return buffer.getvalue()


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def saliency_map_png(saliency: np.ndarray) -> bytes:
    """8-bit greyscale PNG of the map at its own size (0..1 -> 0..255)."""
    return _png(np.rint(_unit(saliency) * 255).astype(np.uint8))


def saliency_from_png(data: bytes) -> np.ndarray:
    """Inverse of :func:`saliency_map_png`: HxW float32 in [0, 1]."""
    with Image.open(io.BytesIO(data)) as image:
        grey = np.asarray(image.convert("L"))
    return grey.astype(np.float32) / 255.0
