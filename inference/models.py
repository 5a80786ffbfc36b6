"""Everything derived from a photo, keyed by (image, model version)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from pgvector.django import HnswIndex, VectorField

from gallery.models import Image, Visibility
from inference.versions import EMBEDDING_DIM


class AnalysisStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


def analysis_file_name(image_id, model_version: str, name: str) -> str:
    # Deterministic names: a re-run of the same (image, version) overwrites, never accumulates.
    slug = model_version.replace("+", "_")
    return f"analysis/{image_id.hex[:2]}/{image_id.hex}/{slug}/{name}"


class ImageAnalysis(models.Model):
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="analyses")
    model_version = models.CharField(max_length=120)
    status = models.CharField(max_length=10, choices=AnalysisStatus.choices, default=AnalysisStatus.PENDING)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # The salient crop, in pixels of the (EXIF-rotated) photo; right and bottom are exclusive.
    crop_left = models.PositiveIntegerField(null=True)
    crop_top = models.PositiveIntegerField(null=True)
    crop_right = models.PositiveIntegerField(null=True)
    crop_bottom = models.PositiveIntegerField(null=True)
    saliency_map = models.FileField(max_length=200, blank=True)
    overlay = models.FileField(max_length=200, blank=True)
    timings_ms = models.JSONField(default=dict, blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        verbose_name_plural = "image analyses"
        constraints = [
            models.UniqueConstraint(fields=["image", "model_version"], name="analysis_unique_image_version"),
        ]
        indexes = [models.Index(fields=["model_version", "status"])]

    def __str__(self) -> str:
        return f"{self.image_id} @ {self.model_version}: {self.status}"

    @property
    def crop_box(self) -> tuple[int, int, int, int] | None:
        if self.crop_left is None:
            return None
        return (self.crop_left, self.crop_top, self.crop_right, self.crop_bottom)


class ImageEmbedding(models.Model):
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="embeddings")
    model_version = models.CharField(max_length=120)
    # The vector search ranks by: the documented fusion of the whole photo and its salient crop.
    vector = VectorField(dimensions=EMBEDDING_DIM)
    whole_vector = VectorField(dimensions=EMBEDDING_DIM)
    crop_vector = VectorField(dimensions=EMBEDDING_DIM)
    # Copies of the photo's owner and visibility, so the similar-photos filter is checked on the
    # row the HNSW scan reads instead of joining every candidate to its photo (2.3x faster at 100k
    # photos; README, "Search at scale"). Written by inference.services.image_analyze and
    # gallery.services.image_update under a lock on the photo row. The photo row stays in
    # search as the authority: a stale copy can hide a photo, never show a private one.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
                              db_index=False)
    visibility = models.CharField(max_length=10, choices=Visibility.choices)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "model_version"], name="embedding_unique_image_version"),
        ]
        indexes = [
            # Vectors are L2-normalised and compared by cosine distance: the opclass must match.
            HnswIndex(
                name="embedding_vector_hnsw",
                fields=["vector"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.image_id} @ {self.model_version}"
