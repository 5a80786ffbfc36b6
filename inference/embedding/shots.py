"""Another shot of the same scene, simulated: what changes between two photos of one place or object.

Used twice, on disjoint photos: to learn the default embedder's view-whitened projection without
labels (inference.embedding.view_whitening: each training photo is its own class, its shots are
the class's members) and to build the general-photo development set (bench/scene_groups.py).
Holidays-style re-shoots differ by framing and zoom, exposure and white balance, a tilted or
rotated camera, and compression; each shot draws one of each. Pure numpy + Pillow.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageEnhance

MIN_AREA, MAX_AREA = 0.45, 0.95  # share of the frame a re-framed shot keeps
MAX_TILT_DEGREES = 8.0
QUARTER_TURN_PROBABILITY = 0.15  # phones store some photos on their side
JPEG_QUALITY = (35, 95)


def _reframe(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    width, height = image.size
    area = width * height * rng.uniform(MIN_AREA, MAX_AREA)
    aspect = (width / height) * math.exp(rng.uniform(math.log(0.8), math.log(1.25)))
    # At least 8 px a side, but never more than the photo has (a photo a few pixels wide is kept whole).
    crop_w = min(width, max(8, round(math.sqrt(area * aspect))))
    crop_h = min(height, max(8, round(math.sqrt(area / aspect))))
    left, top = int(rng.integers(0, width - crop_w + 1)), int(rng.integers(0, height - crop_h + 1))
    return image.crop((left, top, left + crop_w, top + crop_h))


def _tilt(image: Image.Image, degrees: float) -> Image.Image:
    """Rotate by a few degrees and keep the largest centred upright box without empty corners."""
    width, height = image.size
    rotated = image.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=False)
    angle = math.radians(abs(degrees))
    # Shrink factor of the axis-aligned box inside the rotated frame (small angles, any aspect).
    scale = 1.0 / (math.cos(angle) + math.sin(angle) * max(width / height, height / width))
    inner_w, inner_h = min(width, max(8, int(width * scale))), min(height, max(8, int(height * scale)))
    left, top = (width - inner_w) // 2, (height - inner_h) // 2
    return rotated.crop((left, top, left + inner_w, top + inner_h))


def scene_shot_jpeg(rgb: np.ndarray, rng: np.random.Generator, *, mirror: bool = False,
                    max_side: int | None = None) -> bytes:
    """One simulated re-shoot of the HxWx3 uint8 photo, as a JPEG file's bytes.

    Re-framing (45-95% of the area, aspect x0.8-1.25), a tilt of up to 8 degrees, a quarter turn
    15% of the time, exposure, contrast and colour x0.7-1.35, white balance +-8% per channel, a
    longest side of 55-100% of ``max_side`` (default: the photo's), and JPEG quality 35-95.
    ``mirror`` adds a random horizontal flip (training views; a re-shoot is never mirrored).
    """
    image = _reframe(Image.fromarray(rgb), rng)
    image = _tilt(image, float(rng.uniform(-MAX_TILT_DEGREES, MAX_TILT_DEGREES)))
    if rng.random() < QUARTER_TURN_PROBABILITY:
        image = image.transpose(Image.Transpose.ROTATE_90 if rng.random() < 0.5 else Image.Transpose.ROTATE_270)
    if mirror and rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        image = enhance(image).enhance(float(rng.uniform(0.7, 1.35)))
    balanced = np.asarray(image, dtype=np.float32) * rng.uniform(0.92, 1.08, size=3)
    image = Image.fromarray(np.clip(balanced, 0, 255).astype(np.uint8))
    side = (max_side or max(rgb.shape[:2])) * rng.uniform(0.55, 1.0)
    image.thumbnail((max(16, round(side)), max(16, round(side))), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)))
    return buffer.getvalue()


def scene_shot(rgb: np.ndarray, rng: np.random.Generator, *, mirror: bool = False,
               max_side: int | None = None) -> np.ndarray:
    """scene_shot_jpeg, decoded: HxWx3 uint8 RGB."""
    with Image.open(io.BytesIO(scene_shot_jpeg(rgb, rng, mirror=mirror, max_side=max_side))) as decoded:
        return np.asarray(decoded.convert("RGB"))
