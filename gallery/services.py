"""Writes to the gallery. Every upload path (pages, API, admin, import command) calls image_create."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import PIL.Image
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from PIL import ImageOps

from gallery.models import Image, Visibility

# Formats we decode; the extensions a file of that format may carry.
ALLOWED_FORMATS: dict[str, tuple[str, ...]] = {
    "JPEG": ("jpg", "jpeg", "jpe", "jfif"),
    "PNG": ("png",),
    "WEBP": ("webp",),
    "GIF": ("gif",),
    "BMP": ("bmp",),
    "TIFF": ("tif", "tiff"),
}
_EXTENSION_TO_FORMAT = {ext: fmt for fmt, exts in ALLOWED_FORMATS.items() for ext in exts}


class ImageRejected(ValidationError):
    """The upload is not a photo we can keep. The message is meant for the person uploading."""


class DuplicateImage(ImageRejected):
    def __init__(self, existing: Image):
        super().__init__(f"This photo is already in your gallery as “{existing}”.", code="duplicate")
        self.existing = existing


@dataclass(frozen=True)
class InspectedImage:
    format: str
    width: int  # after EXIF orientation, as people see the photo
    height: int


def image_inspect(*, data: bytes, filename: str) -> InspectedImage:
    """Validate an upload by its content; raise ImageRejected with a message a person can act on."""
    if not data:
        raise ImageRejected("The file is empty (0 bytes).", code="empty")
    if len(data) > settings.UPLOAD_MAX_BYTES:
        raise ImageRejected(
            f"The file is {len(data) / 1e6:.1f} MB; the limit is {settings.UPLOAD_MAX_BYTES / 1e6:.0f} MB.",
            code="too_large",
        )
    try:
        with PIL.Image.open(io.BytesIO(data)) as probe:
            fmt = probe.format or ""
            pixels = probe.width * probe.height
    except PIL.Image.DecompressionBombError:
        pixels, fmt = settings.UPLOAD_MAX_PIXELS + 1, ""
    except (PIL.UnidentifiedImageError, OSError, ValueError):
        raise ImageRejected("This file is not an image we can read (JPEG, PNG, WebP, GIF, BMP or TIFF).",
                            code="not_an_image") from None
    # Checked from the header, before any pixel is decoded: a small file can declare a huge image.
    if pixels > settings.UPLOAD_MAX_PIXELS:
        raise ImageRejected(
            f"The image is too large to process ({pixels / 1e6:.0f} megapixels; the limit is "
            f"{settings.UPLOAD_MAX_PIXELS / 1e6:.0f}).",
            code="too_many_pixels",
        )
    if fmt not in ALLOWED_FORMATS:
        raise ImageRejected(f"{fmt or 'This'} images are not supported; use JPEG, PNG, WebP, GIF, BMP or TIFF.",
                            code="unsupported_format")
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext and _EXTENSION_TO_FORMAT.get(ext) != fmt:
        raise ImageRejected(f"“{filename}” is named .{ext} but contains a {fmt} image.", code="wrong_extension")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PIL.Image.DecompressionBombWarning)
            with PIL.Image.open(io.BytesIO(data)) as img:
                img.load()  # a full decode is the only reliable test for truncated files
                upright = ImageOps.exif_transpose(img)
                width, height = upright.size
    except (OSError, ValueError, SyntaxError, PIL.Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"The image is damaged or truncated and cannot be decoded ({exc}).",
                            code="corrupt") from None
    return InspectedImage(format=fmt, width=width, height=height)


def image_create(
    *,
    owner: AbstractBaseUser,
    data: bytes,
    filename: str,
    title: str = "",
    visibility: str = Visibility.PRIVATE,
) -> Image:
    """Validate, store and register one photo, and queue its analysis once the row is committed.

    On any failure nothing is left behind: no row, no stored file, nothing queued.
    """
    from inference.tasks import image_analyze_task

    inspected = image_inspect(data=data, filename=filename)
    if visibility not in Visibility.values:
        raise ImageRejected(f"Unknown visibility “{visibility}”.", code="visibility")
    sha256 = hashlib.sha256(data).hexdigest()
    existing = Image.objects.filter(owner=owner, sha256=sha256).first()
    if existing is not None:
        raise DuplicateImage(existing)

    image = Image(
        owner=owner,
        content_type=PIL.Image.MIME[inspected.format],
        sha256=sha256,
        size_bytes=len(data),
        width=inspected.width,
        height=inspected.height,
        visibility=visibility,
        title=title.strip()[:200] or _title_from_filename(filename),
    )
    extension = ALLOWED_FORMATS[inspected.format][0]
    image.file.save(f"upload.{extension}", ContentFile(data), save=False)
    try:
        with transaction.atomic():
            image.save(force_insert=True)
            image_analyze_task.delay_on_commit(str(image.id))
    except IntegrityError:
        image.file.storage.delete(image.file.name)
        # A concurrent upload of the same bytes won the race.
        existing = Image.objects.filter(owner=owner, sha256=sha256).first()
        if existing is None:
            raise
        raise DuplicateImage(existing) from None
    except BaseException:
        image.file.storage.delete(image.file.name)
        raise
    return image


def image_update(*, image: Image, title: str | None = None, visibility: str | None = None) -> Image:
    if visibility is not None and visibility not in Visibility.values:
        raise ValidationError(f"Unknown visibility “{visibility}”.")
    if title is not None:
        image.title = title.strip()[:200]
    if visibility is not None:
        image.visibility = visibility
    image.save(update_fields=["title", "visibility"])
    return image


def image_delete(*, image: Image) -> None:
    """Delete a photo, its derived files and rows. Files go only once the rows are gone."""
    names = [image.file.name]
    for analysis in image.analyses.all():
        names += [f.name for f in (analysis.saliency_map, analysis.overlay) if f]
    storage = image.file.storage
    with transaction.atomic():
        image.delete()
        transaction.on_commit(lambda: [storage.delete(name) for name in names])


def _title_from_filename(filename: str) -> str:
    stem = filename.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return stem.replace("_", " ").replace("-", " ").strip()[:200]
