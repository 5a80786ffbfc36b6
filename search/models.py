"""Searches with a photo that is not in the gallery, or with a region of one that is.

A query is short-lived: the worker analyses it like any upload (same pipeline, a queue of its
own so it never waits behind a bulk import), the page or client polls it, and the sweep deletes
it after QUERY_KEEP_HOURS. Its photo never becomes a gallery photo.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from pgvector.django import VectorField

from gallery.models import AnalysisStatus, Image
from inference.versions import EMBEDDING_DIM


def query_upload_to(instance: SimilarityQuery, filename: str) -> str:
    return f"queries/{instance.id.hex}.jpg"


class SimilarityQuery(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="similarity_queries")
    # Either an outside photo (file) or a region (box, in the source photo's pixels) of a gallery photo.
    file = models.FileField(upload_to=query_upload_to, max_length=200, blank=True)
    source_image = models.ForeignKey(Image, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    box_left = models.PositiveIntegerField(null=True, blank=True)
    box_top = models.PositiveIntegerField(null=True, blank=True)
    box_right = models.PositiveIntegerField(null=True, blank=True)
    box_bottom = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=AnalysisStatus.choices, default=AnalysisStatus.PENDING)
    error = models.TextField(blank=True)
    # Analyses started; a search whose photo stops the worker every time fails after
    # ANALYSIS_MAX_ATTEMPTS instead of being handed back forever (search.services).
    attempts = models.PositiveIntegerField(default=0)
    model_version = models.CharField(max_length=120, blank=True)
    vector = VectorField(dimensions=EMBEDDING_DIM, null=True, blank=True)
    whole_vector = VectorField(dimensions=EMBEDDING_DIM, null=True, blank=True)
    crop_vector = VectorField(dimensions=EMBEDDING_DIM, null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.CheckConstraint(
                name="query_has_photo_or_region",
                condition=(models.Q(source_image__isnull=True) & ~models.Q(file=""))
                | (models.Q(source_image__isnull=False) & models.Q(box_left__isnull=False)),
            ),
        ]

    def __str__(self) -> str:
        return f"query {self.id} ({self.status})"

    @property
    def box(self) -> tuple[int, int, int, int] | None:
        if self.box_left is None:
            return None
        return (self.box_left, self.box_top, self.box_right, self.box_bottom)

    @property
    def is_region(self) -> bool:
        return self.source_image_id is not None
