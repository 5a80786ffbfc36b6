"""Everything derived from a photo, keyed by (image, model version)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import OpClass
from django.db import models
from django.db.models import Q
from django.db.models.functions import Cast
from django.utils import timezone
from pgvector.django import HalfVectorField, HnswIndex, VectorField

from gallery.models import AnalysisStatus, Image, Visibility
from inference.versions import EMBEDDING_DIM


def search_vector_half():
    """The expression the similar-photos query ranks by and the HNSW index is built on: the
    search vector in half precision. The column stays float32 (exact distances for display);
    the graph holds 2-byte components and fewer links, 0.56x the size of the float32 index at 1M
    photos at a higher recall (bench/search.py; README, "Capacity"). Query and index must use
    this one expression or PostgreSQL cannot use the index."""
    return Cast("vector", HalfVectorField(dimensions=EMBEDDING_DIM))


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
    # NULL while pending means "marked for (re-)analysis, not queued yet": the sweep queues marked
    # rows in bounded batches, so a re-index of any size is resumable and never floods the broker.
    queued_at = models.DateTimeField(null=True, default=timezone.now)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)
    # The Celery worker (its node name, "name@host") that made the last attempt: which machine to
    # look at when a photo fails. A database default, so rows and code from before it keep working.
    worker = models.CharField(max_length=200, blank=True, db_default="")

    class Meta:
        verbose_name_plural = "image analyses"
        constraints = [
            models.UniqueConstraint(fields=["image", "model_version"], name="analysis_unique_image_version"),
        ]
        indexes = [
            models.Index(fields=["model_version", "status"]),
            # The jobs dashboard's "finished in the last hour" and "recent failures".
            models.Index(fields=["finished_at"], name="analysis_finished_at"),
        ]

    def __str__(self) -> str:
        return f"{self.image_id} @ {self.model_version}: {self.status}"

    @property
    def has_heatmap(self) -> bool:
        """A heat map can be shown: drawn on request from the stored map (gallery.heatmaps), or,
        for analyses made before the map alone was stored, from their stored overlay PNG."""
        return bool(self.saliency_map or self.overlay)

    @property
    def is_marked(self) -> bool:
        """Waiting for the sweep to queue it (a re-index mark)."""
        return self.status == AnalysisStatus.PENDING and self.queued_at is None

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
    # The search vector in half precision, stored (PostgreSQL computes it on every write), for the
    # owner B-tree to carry: INCLUDE takes columns, not expressions. The viewer's own photos are
    # ranked by it exactly from the B-tree, at half the bytes of the float32 vector it replaced
    # there (migrations 0010-0012; README, "Search at scale").
    vector_half = models.GeneratedField(expression=search_vector_half(),
                                        output_field=HalfVectorField(dimensions=EMBEDDING_DIM), db_persist=True)
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
            # The similar-photos query's two parts (search.selectors.image_similar_queryset,
            # migrations 0007 and 0011; README, "Search at scale"): a graph of the public photos
            # alone, where no candidate fails the visibility test, and the viewer's own non-public
            # photos by owner, scanned exactly from the B-tree without reading their rows (it
            # carries what that part reads: the half-precision vector). No graph of every photo: no
            # query walks one since the split (migration 0009 dropped it).
            # Vectors are L2-normalised and compared by cosine distance: the opclass must match.
            # m 8 with a wider construction search (128) keeps recall@10 of m 16 / 64 at 1M photos
            # with half the links per node (bench/search.py; README, "Capacity").
            HnswIndex(
                OpClass(search_vector_half(), name="halfvec_cosine_ops"),
                name="embedding_public_half_hnsw",
                m=8,
                ef_construction=128,
                condition=Q(visibility=Visibility.PUBLIC),
            ),
            # Partial: only the rows that part reads. Public rows come from the graph; carrying
            # them here too cost 5 % more entries at the bench's public share and all of them on
            # an all-public site.
            models.Index(fields=["owner", "model_version"], include=["image", "id", "vector_half"],
                         condition=~Q(visibility=Visibility.PUBLIC), name="embedding_owner_private"),
        ]

    def __str__(self) -> str:
        return f"{self.image_id} @ {self.model_version}"


class VersionStatus(models.TextChoices):
    BUILDING = "building", "Building"  # made by workers, not serving search
    ACTIVE = "active", "Active"  # the one version search ranks with
    RETIRED = "retired", "Retired"  # served before; vectors kept for an instant roll-back
    PRUNING = "pruning", "Pruning"  # an operator asked to delete its rows and files
    PRUNED = "pruned", "Pruned"


class ModelVersion(models.Model):
    """The registry of model versions: which one search uses is a row here, not a guess.

    Activation flips two rows in one transaction (services.model_version_activate), so every
    search that starts after the commit ranks with the new vectors and none sees a mix.
    """

    name = models.CharField(max_length=120, unique=True)  # "<saliency version>+<embedder version>"
    status = models.CharField(max_length=10, choices=VersionStatus.choices, default=VersionStatus.BUILDING)
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    pruned_at = models.DateTimeField(null=True, blank=True)
    # The version that was active when this one was activated: what "roll back" returns to.
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Updated by workers (start-up and every sweep): tells the web which version workers build.
    workers_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="active"), name="model_version_one_active"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def saliency_version(self) -> str:
        return self.name.split("+", 1)[0]

    @property
    def embedder_version(self) -> str:
        return self.name.split("+", 1)[-1]
