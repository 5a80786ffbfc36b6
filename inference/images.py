"""Photos as pixels: decoding, resizing, boxes and crops, and the renditions pages show.

The one module for image geometry. Pure Pillow and numpy, no Django and no TensorFlow: the upload
(renditions), the worker (what the models read, the salient crop, thumbnails re-cropped by
saliency) and searches (a region of a photo) all call these functions, so a photo is analysed
exactly as people see it.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import PIL.Image
from PIL import ImageOps

from inference.overlays import saliency_from_png, saliency_overlay_png

# File name endings the folder commands and training treat as photos (formats image_create accepts).
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})

# Saliency maps are stored (and heat maps drawn from them) at most this large on their long side.
# Every model's map is smooth at this scale (msinet-lite0 predicts on a 240x320 or 320x320 canvas
# and only interpolates up to the photo), so the stored map holds what the model saw; at the
# working size its PNG took ~12 ms to encode per photo, more than a quarter of the saliency model.
STORED_MAP_MAX_SIDE = 320

# Saliency, crops and overlays work on a copy whose long side is at most this: the maps are
# smooth, and the embedder reads 224 px anyway, so more pixels only cost time and memory.
WORKING_MAX_SIDE = 1024

Box = tuple[int, int, int, int]  # (left, top, right, bottom) in pixels; right and bottom exclusive


# --- decoding ---------------------------------------------------------------------------------

# What Pillow raises for a file it cannot decode (UnidentifiedImageError and "image file is
# truncated" are OSErrors; some plugins raise ValueError, SyntaxError or EOFError).
# TypeError too: Pillow's exif_transpose re-serialises a mutated TIFF's EXIF and can fail with
# "The fill character must be a unicode character, not bytes" (found by the hostile-upload fuzz test).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, TypeError)


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

    The one decoding rule for models and for what pages show (the renditions below), so a photo
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


def load_rgb(data: bytes, *, max_side: int | None = None, box: Box | None = None) -> np.ndarray:
    """Decode to an upright HxWx3 uint8 RGB array (transparency flattened onto white), cropped to
    ``box`` (in the upright photo's pixels) if given, then shrunk to at most ``max_side``."""
    return working_copy(decode_upright(data), max_side=max_side, box=box)


def decode_upright(data: bytes) -> PIL.Image.Image:
    """The photo decoded in full and made upright 8-bit RGB (upright_rgb); the first half of load_rgb."""
    with PIL.Image.open(io.BytesIO(data)) as img:
        img.load()
        return upright_rgb(img)


def working_copy(rgb: PIL.Image.Image, *, max_side: int | None = None, box: Box | None = None) -> np.ndarray:
    """``rgb`` cropped to ``box`` if given, then shrunk to at most ``max_side``, as a uint8 array;
    the second half of load_rgb. ``rgb`` is consumed: it may be shrunk in place."""
    if box is not None:
        rgb = rgb.crop(box)
    if max_side is not None and max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), PIL.Image.Resampling.LANCZOS)
    return np.asarray(rgb, dtype=np.uint8)


# --- resizing ---------------------------------------------------------------------------------

def resize_map(saliency: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a 2-D float map to ``height`` x ``width`` (float32).

    Pillow's bilinear filter widens its support when shrinking, so downscaling is antialiased like
    MATLAB's ``imresize`` (what the saliency benchmarks' code uses).
    """
    saliency = np.asarray(saliency, dtype=np.float32)
    if saliency.shape == (height, width):
        return saliency
    resized = PIL.Image.fromarray(saliency, mode="F").resize((width, height), PIL.Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32)


def squash_resize(image: np.ndarray, side: int) -> np.ndarray:
    """Squash the whole HxWx3 uint8 frame to ``side`` x ``side`` (the embedder's input): an
    off-centre subject or a crop of a wide photo keeps all its content. PIL's bicubic antialiases
    when shrinking."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB array, got {image.dtype} {image.shape}")
    # reducing_gap: box-reduce big photos first; 4000x3000 takes 36 ms instead of 76 ms on 2 cores,
    # and the extra box step is invisible after the final 3x bicubic shrink.
    return np.asarray(PIL.Image.fromarray(image).resize((side, side), PIL.Image.Resampling.BICUBIC, reducing_gap=3.0))


# --- boxes and crops --------------------------------------------------------------------------

def scale_box(box: Box, from_size: tuple[int, int], to_size: tuple[int, int]) -> Box:
    """Map a (left, top, right, bottom) box between two sizes given as (width, height)."""
    sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    left, top, right, bottom = box
    return (
        int(np.floor(left * sx)),
        int(np.floor(top * sy)),
        max(int(np.floor(left * sx)) + 1, min(to_size[0], int(np.ceil(right * sx)))),
        max(int(np.floor(top * sy)) + 1, min(to_size[1], int(np.ceil(bottom * sy)))),
    )


# The salient crop (the subject, embedded beside the whole photo) is the axis-aligned box ``B`` that maximises
#
#     mass(B) / mass(image)  -  area(B) / area(image)
#
# i.e. the saliency it holds beyond what a uniform map would put in the same
# area (equivalently the sum of ``density - mean density`` over the box).
# Why this objective:
#
# * it is scale-free: maximising mass alone always picks the whole image,
#   and mass per area always shrinks onto the single brightest pixel;
# * the optimum's edges sit where the saliency density falls to the image
#   mean, so a box grows over a broad salient region and stops at the
#   background;
# * it weighs mass, not peak height, so a broad blob outweighs a sharp spike
#   holding less mass, where a box centred on the peak would pick the spike.
#
# Each side is at least ``min_side_fraction`` of the image side so the crop
# never collapses to a sliver. A map that no box beats (uniform, all zero)
# gives the whole image.
#
# The search runs on a coarse grid of at most ``GRID_CELLS`` cells a side:
# block sums of the map, a summed-area table, and every box scored at once
# (about 0.5 M boxes at 48 cells and the default minimum side).

GRID_CELLS = 48
#: Scores are mass fractions in [-1, 1]; closer than this counts as a tie.
_TIE = 1e-9


def _mass(saliency: np.ndarray) -> np.ndarray:
    """The map as saliency mass: negative and non-finite values are 0. Kept in the map's own
    float32 (models make float32 maps; callers sum in float64), which at the working size is
    several ms cheaper per photo than a float64 copy."""
    sal = np.asarray(saliency)
    if not np.issubdtype(sal.dtype, np.floating):
        sal = sal.astype(np.float64)
    mass = np.fmax(sal, 0)  # NaN and -inf become 0 in the same pass
    if np.isinf(mass.max(initial=0)):
        mass[np.isinf(mass)] = 0
    return mass


def _cell_edges(length: int) -> np.ndarray:
    """Pixel edges of min(length, GRID_CELLS) near-equal cells."""
    cells = min(length, GRID_CELLS)
    # Integer floor division keeps edges strictly increasing (cells <= length).
    return np.arange(cells + 1) * length // cells


def _side_pairs(edges: np.ndarray, min_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (start, stop) of every edge pair at least ``min_side`` apart."""
    span = edges[None, :] - edges[:, None]
    return np.nonzero(span >= max(min_side, 1))


def saliency_crop_box(saliency: np.ndarray, *, min_side_fraction: float = 0.25) -> Box:
    """Box ``(left, top, right, bottom)``, right/bottom exclusive, that holds
    the most saliency mass for its area (see the comment above).

    Coordinates are in the map's pixels; negative or non-finite values count
    as zero mass. Ties go to the smaller box.
    """
    sal = _mass(saliency)
    if sal.ndim != 2 or sal.size == 0:
        raise ValueError(f"expected a non-empty 2-D map, got shape {sal.shape}")
    if not 0.0 <= min_side_fraction <= 1.0:
        raise ValueError("min_side_fraction must be within [0, 1]")
    height, width = sal.shape
    whole = (0, 0, width, height)
    sal = sal.astype(np.float64, copy=False)
    total = sal.sum()
    if total <= 0:
        return whole

    ys, xs = _cell_edges(height), _cell_edges(width)
    cells = np.add.reduceat(np.add.reduceat(sal, ys[:-1], axis=0), xs[:-1], axis=1)
    # Summed-area table of mass fractions at the grid corners.
    table = np.zeros((len(ys), len(xs)))
    table[1:, 1:] = cells.cumsum(axis=0).cumsum(axis=1) / total

    # The epsilon stops float error in fraction * side from adding a pixel.
    top, bottom = _side_pairs(ys, math.ceil(min_side_fraction * height - 1e-9))
    left, right = _side_pairs(xs, math.ceil(min_side_fraction * width - 1e-9))
    bands = table[bottom] - table[top]  # (row pairs, column edges): band mass left of each edge
    heights, widths = (ys[bottom] - ys[top]) / height, (xs[right] - xs[left]) / width
    # score = mass - area over (row pairs, column pairs), about 0.8 M boxes: computed in place,
    # since each pass over it costs about a millisecond.
    score = bands[:, right]
    score -= bands[:, left]
    score -= np.outer(heights, widths)

    best = score.max()
    if best <= _TIE:
        return whole
    # Among the (few) boxes tied with the best, the first of the smallest area.
    tied = np.flatnonzero(score >= best - _TIE)
    tied_area = heights[tied // len(left)] * widths[tied % len(left)]
    pick = tied[tied_area.argmin()]
    row, col = divmod(int(pick), len(left))
    return int(xs[left[col]]), int(ys[top[row]]), int(xs[right[col]]), int(ys[bottom[row]])


def saliency_window(saliency: np.ndarray | None, aspect: float, size: tuple[int, int]) -> Box:
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
        profile = _mass(saliency).sum(axis=0 if horizontal else 1, dtype=np.float64)
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


# --- renditions -------------------------------------------------------------------------------

# What people are shown instead of the uploaded file: a re-encoded display copy and thumbnails.
#
# Every rendition is decoded pixels written out again as a fresh JPEG with no metadata, so nothing
# active that an upload might carry (scripts in a polyglot file, ICC tricks, EXIF with GPS
# coordinates) is ever served back; only the owner can download the original bytes.
#
# Thumbnails are cropped to a fixed aspect ratio. Before a photo's saliency map exists the window
# is centred; afterwards (the worker re-renders them) it is the window of that ratio that holds
# the most saliency, so the subject stays in the frame.

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


def thumbnail(rgb: PIL.Image.Image, spec: ThumbnailSpec, saliency: np.ndarray | None = None, *,
              box: Box | None = None) -> bytes:
    """``spec``'s tile of the window (``box``, by default the saliency window), JPEG."""
    box = box or saliency_window(saliency, spec.aspect, rgb.size)
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
    flat = _mass(saliency).ravel()
    total = flat.sum(dtype=np.float64)
    if total <= 0:
        return 0.0
    # The top eighth's values by partition (linear time), not a full sort: the same values.
    top = max(1, flat.size // 8)
    return float(np.partition(flat, flat.size - top)[flat.size - top:].sum(dtype=np.float64) / total)


def stored_map(saliency: np.ndarray) -> np.ndarray:
    """The map shrunk (aspect kept, antialiased) to at most STORED_MAP_MAX_SIDE on its long side:
    what is stored and what heat maps are drawn from."""
    height, width = saliency.shape
    scale = STORED_MAP_MAX_SIDE / max(height, width)
    if scale >= 1:
        return np.asarray(saliency, dtype=np.float32)
    return resize_map(saliency, max(1, round(height * scale)), max(1, round(width * scale)))


def thumbnails_moved(rgb: PIL.Image.Image, saliency: np.ndarray) -> dict[str, bytes]:
    """The thumbnails whose saliency window is not the centred one the upload stored already
    (a 4:3 photo's wide thumbnail is the whole photo, whatever the map): only these need drawing."""
    windows = {name: saliency_window(saliency, spec.aspect, rgb.size) for name, spec in THUMBNAILS.items()}
    return {name: thumbnail(rgb, spec, box=windows[name]) for name, spec in THUMBNAILS.items()
            if windows[name] != saliency_window(None, spec.aspect, rgb.size)}


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
            saliency = resize_map(saliency, max(1, round(height * scale)), max(1, round(width * scale)))
        return saliency_overlay_png(saliency)
    left, top, right, bottom = saliency_window(saliency, spec.aspect, (width, height))
    # Crop and resize the map, then colour it: the outline is drawn at the tile's own pixels.
    tile = resize_map(saliency[top:bottom, left:right], spec.height // 2, spec.width // 2)
    return saliency_overlay_png(tile)
