"""Uploaded photos and albums.

A photo's original file never changes. Pages show re-encoded renditions of it (inference.images).
The analysis itself lives in inference; the few facts every list needs (status, the saliency-cropped
thumbnails, how clearly the photo has one subject) are copied onto the photo by the worker in the
same transaction, so grids filter and render without joining into inference.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.urls import reverse
from rest_framework_tus.models import AbstractUpload

from gallery.platform.routes import reverse_uuid


class Visibility(models.TextChoices):
    PRIVATE = "private", "Private"
    PUBLIC = "public", "Public"


def image_upload_to(instance: Image, filename: str) -> str:
    # Storage names are uuid-based: nothing of the user's file name reaches the file system.
    ext = filename.rsplit(".", 1)[-1].lower()
    return f"images/{instance.id.hex[:2]}/{instance.id.hex}.{ext}"


class AnalysisStatus(models.TextChoices):
    """Where an analysis stands, in one vocabulary for the three things analysed: a photo's analysis
    by one model version (inference.ImageAnalysis), the photo's own summary of them
    (Image.analysis_status) and a search with a photo or a region (search.SimilarityQuery)."""

    PENDING = "pending", "Waiting for analysis"
    RUNNING = "running", "Analysing"
    DONE = "done", "Analysed"
    FAILED = "failed", "Analysis failed"


def rendition_name(image_id: uuid.UUID, name: str) -> str:
    return f"renditions/{image_id.hex[:2]}/{image_id.hex}/{name}"


class Image(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(upload_to=image_upload_to, max_length=200)
    content_type = models.CharField(max_length=40)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE)
    title = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    # From EXIF DateTimeOriginal, as the camera wrote it (cameras rarely record a time zone).
    taken_at = models.DateTimeField(null=True, blank=True)
    # Re-encoded copies, no metadata: what every page shows (inference.images).
    display = models.FileField(max_length=200, blank=True)
    thumbnail_square = models.FileField(max_length=200, blank=True)
    thumbnail_wide = models.FileField(max_length=200, blank=True)
    # Written by inference.services: done once any model version has analysed the photo.
    analysis_status = models.CharField(max_length=10, choices=AnalysisStatus.choices, default=AnalysisStatus.PENDING)
    analysis_error = models.TextField(blank=True)
    saliency_focus = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            # The same bytes uploaded twice by one owner are one photo.
            models.UniqueConstraint(fields=["owner", "sha256"], name="image_unique_owner_sha256"),
        ]
        indexes = [
            models.Index(fields=["owner", "-created"]),
            models.Index(fields=["visibility", "-created"]),
            models.Index(fields=["owner", "analysis_status"]),
        ]

    def __str__(self) -> str:
        return self.title or f"Image {self.id}"

    def get_absolute_url(self) -> str:
        return reverse_uuid("gallery:photo", self.id)

    @property
    def is_public(self) -> bool:
        return self.visibility == Visibility.PUBLIC

    def thumbnail_file(self, name: str):
        return getattr(self, f"thumbnail_{name}")

    def thumbnail_url(self, name: str = "square") -> str:
        return _versioned(reverse("gallery:thumbnail", args=[self.id, name]), self.thumbnail_file(name).name)

    @property
    def display_url(self) -> str:
        return _versioned(reverse_uuid("gallery:file", self.id), self.display.name)


def _versioned(url: str, storage_name: str) -> str:
    # The stored name changes whenever the rendition does (centred -> saliency-cropped), so a
    # URL that carries it can be cached by browsers for a long time.
    return f"{url}?v={hashlib.sha1(storage_name.encode()).hexdigest()[:10]}"


class Album(models.Model):
    """A named set of one owner's photos. Albums are private to their owner."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="albums")
    title = models.CharField(max_length=120)
    images = models.ManyToManyField(Image, through="AlbumImage", related_name="albums")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        constraints = [models.UniqueConstraint(fields=["owner", "title"], name="album_unique_owner_title")]

    def __str__(self) -> str:
        return self.title


class AlbumImage(models.Model):
    album = models.ForeignKey(Album, on_delete=models.CASCADE)
    image = models.ForeignKey(Image, on_delete=models.CASCADE)
    added = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-added"]
        constraints = [models.UniqueConstraint(fields=["album", "image"], name="album_image_unique")]

    def __str__(self) -> str:
        return f"photo {self.image_id} in album {self.album_id}"


class ResumableUpload(AbstractUpload):
    """A tus upload in progress (gallery.api.uploads): chunks go to a temporary file until the last
    byte arrives, then gallery.services.resumable_upload_finish makes the photo like any upload.

    The row outlives its temporary file until it expires, so a client whose connection dropped on
    the last chunk can still ask what became of it.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    # What the finished upload became: a photo, or the reason it was refused.
    image = models.ForeignKey(Image, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    image_existed = models.BooleanField(default=False)
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires"])]

    def __str__(self) -> str:
        return f"upload {self.guid} ({self.state})"

    def get_or_create_temporary_file(self) -> str:
        # drf-tus would use the system temp dir; keep chunks under the configured directory instead.
        if not self.temporary_file_path:
            directory = Path(settings.REST_FRAMEWORK_TUS["UPLOAD_DIR"])
            directory.mkdir(parents=True, exist_ok=True)
            self.temporary_file_path = str(directory / f"{self.guid.hex}.part")
            Path(self.temporary_file_path).touch()
            self.save()
        return self.temporary_file_path
