"""Uploaded photos. A photo's file never changes; everything derived from it lives in inference."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Visibility(models.TextChoices):
    PRIVATE = "private", "Private"
    PUBLIC = "public", "Public"


def image_upload_to(instance: Image, filename: str) -> str:
    # Storage names are uuid-based: nothing of the user's file name reaches the file system.
    ext = filename.rsplit(".", 1)[-1].lower()
    return f"images/{instance.id.hex[:2]}/{instance.id.hex}.{ext}"


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

    class Meta:
        ordering = ["-created"]
        constraints = [
            # The same bytes uploaded twice by one owner are one photo.
            models.UniqueConstraint(fields=["owner", "sha256"], name="image_unique_owner_sha256"),
        ]
        indexes = [models.Index(fields=["owner", "-created"]), models.Index(fields=["visibility", "-created"])]

    def __str__(self) -> str:
        return self.title or f"Image {self.id}"

    @property
    def is_public(self) -> bool:
        return self.visibility == Visibility.PUBLIC
