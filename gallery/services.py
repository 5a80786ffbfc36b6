"""Writes to the gallery. Every upload path (pages, API, admin, import command) calls image_create."""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import PIL.Image
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from gallery.models import Album, AlbumImage, Image, ResumableUpload, Visibility, rendition_name
from gallery.platform.queueing import task_enqueue_on_commit
from inference import images
from inference.images import DECODE_ERRORS, decode_failure_message

logger = logging.getLogger(__name__)

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

# The worker's analysis (inference.tasks.image_analyze_task), queued by its name: the gallery never
# imports the worker's code, whose model modules would pull TensorFlow into web processes.
ANALYSIS_TASK = "inference.analyze_image"


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
    taken_at: datetime.datetime | None
    rgb: PIL.Image.Image  # the decoded, upright pixels the renditions are made from


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
        # Pillow will not even open an image over twice its own limit: the size stays unknown.
        pixels, fmt = None, ""
    except (PIL.UnidentifiedImageError, OSError, ValueError):
        raise ImageRejected("This file is not an image we can read (JPEG, PNG, WebP, GIF, BMP or TIFF).",
                            code="not_an_image") from None
    # Checked from the header, before any pixel is decoded: a small file can declare a huge image.
    if pixels is None or pixels > settings.UPLOAD_MAX_PIXELS:
        size = f"{pixels / 1e6:.0f} megapixels" if pixels is not None else "hundreds of megapixels"
        raise ImageRejected(
            f"The image is too large to process ({size}; the limit is {settings.UPLOAD_MAX_PIXELS / 1e6:.0f}).",
            code="too_many_pixels",
        )
    # Phones write JPEGs with extra pictures (depth maps, gain maps) in a Multi-Picture Format
    # segment, which Pillow names MPO: it is a JPEG, and its first picture is the photo.
    fmt = "JPEG" if fmt == "MPO" else fmt
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
                taken_at = _exif_taken_at(img)
                rgb = images.upright_rgb(img)
    except PIL.Image.DecompressionBombWarning:
        raise ImageRejected(f"The image is too large to process (the limit is "
                            f"{settings.UPLOAD_MAX_PIXELS / 1e6:.0f} megapixels).", code="too_many_pixels") from None
    except DECODE_ERRORS as exc:
        logger.info("upload %r cannot be decoded: %s", filename, exc)  # the library's words, for the log only
        raise ImageRejected(decode_failure_message(exc), code="corrupt") from None
    return InspectedImage(format=fmt, width=rgb.width, height=rgb.height, taken_at=taken_at, rgb=rgb)


_EXIF_IFD = 0x8769
_DATE_TIME_ORIGINAL = 0x9003
_DATE_TIME = 0x0132


def _exif_taken_at(img: PIL.Image.Image) -> datetime.datetime | None:
    """When the photo was taken, from EXIF; None when absent or malformed (never an error)."""
    try:
        exif = img.getexif()
        raw = exif.get_ifd(_EXIF_IFD).get(_DATE_TIME_ORIGINAL) or exif.get(_DATE_TIME)
        if not raw:
            return None
        taken = datetime.datetime.strptime(str(raw).strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except (ValueError, TypeError, OSError, SyntaxError):
        return None
    # EXIF rarely records a zone: keep the camera's wall-clock time, shown as written.
    return taken.replace(tzinfo=datetime.UTC)


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
        taken_at=inspected.taken_at,
        visibility=visibility,
        title=title.strip()[:200] or _title_from_filename(filename),
    )
    extension = ALLOWED_FORMATS[inspected.format][0]
    stored: list[str] = []
    try:
        image.file.save(f"upload.{extension}", ContentFile(data), save=False)
        stored.append(image.file.name)
        stored += _renditions_save(image, inspected.rgb)
        with transaction.atomic():
            image.save(force_insert=True)
            # A broker outage does not fail the upload: the analysis sweep queues every photo
            # that has no analysis once the broker is back.
            task_enqueue_on_commit(ANALYSIS_TASK, str(image.id))
    except IntegrityError:
        _storage_delete(stored)
        # A concurrent upload of the same bytes won the race.
        existing = Image.objects.filter(owner=owner, sha256=sha256).first()
        if existing is None:
            raise
        raise DuplicateImage(existing) from None
    except BaseException:
        _storage_delete(stored)
        raise
    return image


def _renditions_save(image: Image, rgb: PIL.Image.Image) -> list[str]:
    """Store the display copy and centred thumbnails (the worker re-crops them by saliency)."""
    storage = image.file.storage
    image.display = storage.save(rendition_name(image.id, "display.jpg"),
                                 ContentFile(images.display_rendition(rgb)))
    names = [image.display.name]
    for name, jpeg in images.thumbnails(rgb).items():
        field = image.thumbnail_file(name)
        field.name = storage.save(rendition_name(image.id, f"{name}-centre.jpg"), ContentFile(jpeg))
        names.append(field.name)
    return names


def _storage_delete(names: list[str]) -> None:
    from django.core.files.storage import default_storage

    for name in names:
        if name:
            default_storage.delete(name)


def image_update(*, image: Image, title: str | None = None, visibility: str | None = None) -> Image:
    if visibility is not None and visibility not in Visibility.values:
        raise ValidationError(f"Unknown visibility “{visibility}”.")
    if title is not None:
        image.title = title.strip()[:200]
    if visibility is not None:
        image.visibility = visibility
    with transaction.atomic():
        image.save(update_fields=["title", "visibility"])  # locks the row: see inference.services.image_analyze
        # Search filters on a copy of the visibility kept with each vector.
        image.embeddings.update(visibility=image.visibility)
    return image


def image_delete(*, image: Image) -> None:
    """Delete a photo, its derived files and rows. Files go only once the rows are gone."""
    names = [f.name for f in (image.file, image.display, image.thumbnail_square, image.thumbnail_wide) if f]
    for analysis in image.analyses.all():
        names += [f.name for f in (analysis.saliency_map, analysis.overlay) if f]
    with transaction.atomic():
        image.delete()
        transaction.on_commit(lambda: _storage_delete(names))


# --- albums -----------------------------------------------------------------------------------

class AlbumRejected(ValidationError):
    """The album change cannot be made; the message is meant for the person."""


def album_create(*, owner, title: str) -> Album:
    title = _album_title_clean(title)
    if Album.objects.filter(owner=owner, title__iexact=title).exists():
        raise AlbumRejected(f"You already have an album called “{title}”.", code="duplicate")
    return Album.objects.create(owner=owner, title=title)


def album_rename(*, album: Album, title: str) -> Album:
    title = _album_title_clean(title)
    if Album.objects.filter(owner=album.owner_id, title__iexact=title).exclude(id=album.id).exists():
        raise AlbumRejected(f"You already have an album called “{title}”.", code="duplicate")
    album.title = title
    album.save(update_fields=["title", "updated"])
    return album


def album_delete(*, album: Album) -> None:
    """Delete the album; its photos stay in the gallery."""
    album.delete()


def album_images_add(*, album: Album, images: list[Image]) -> int:
    """Add the owner's photos to the album; returns how many were new to it."""
    foreign = [image for image in images if image.owner_id != album.owner_id]
    if foreign:
        raise AlbumRejected("Only your own photos can go into your albums.", code="not_owner")
    present = set(AlbumImage.objects.filter(album=album, image__in=images).values_list("image_id", flat=True))
    new = [image for image in {image.id: image for image in images}.values() if image.id not in present]
    # ignore_conflicts: a concurrent add of the same photo is not an error.
    AlbumImage.objects.bulk_create([AlbumImage(album=album, image=image) for image in new], ignore_conflicts=True)
    Album.objects.filter(id=album.id).update(updated=timezone.now())
    return len(new)


def album_images_remove(*, album: Album, images: list[Image]) -> int:
    removed, _ = AlbumImage.objects.filter(album=album, image__in=images).delete()
    return removed


def _album_title_clean(title: str) -> str:
    title = (title or "").strip()[:120]
    if not title:
        raise AlbumRejected("Give the album a name.", code="required")
    return title


def _title_from_filename(filename: str) -> str:
    stem = filename.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return stem.replace("_", " ").replace("-", " ").strip()[:200]


# --- resumable (tus) uploads ------------------------------------------------------------------

def resumable_upload_finish(*, upload: ResumableUpload) -> ResumableUpload:
    """The last byte of a resumable upload has arrived: make the photo from the assembled file
    through image_create, exactly like any other upload (same checks, same de-duplication, same
    analysis), record what it became, and delete the temporary file whatever happened."""
    metadata = upload.upload_metadata or {}
    if isinstance(metadata, str):  # drf-tus stores the metadata as a JSON string
        metadata = json.loads(metadata or "{}")
    path = Path(upload.temporary_file_path)
    try:
        data = path.read_bytes()
        try:
            upload.image = image_create(owner=upload.owner, data=data, filename=metadata.get("filename", ""),
                                        title=metadata.get("title", ""),
                                        visibility=metadata.get("visibility", Visibility.PRIVATE))
        except DuplicateImage as exc:
            upload.image, upload.image_existed = exc.existing, True
        except ImageRejected as exc:
            upload.error_code, upload.error_message = exc.code, " ".join(exc.messages)
    finally:
        path.unlink(missing_ok=True)
        upload.temporary_file_path = None
    upload.save()
    return upload


def resumable_uploads_prune() -> int:
    """Forget uploads past their expiry, finished or not, with any chunks they left on disk."""
    expired = list(ResumableUpload.objects.filter(expires__lt=timezone.now()))
    for upload in expired:
        upload.delete()  # drf-tus's delete() also removes the temporary file
    return len(expired)
