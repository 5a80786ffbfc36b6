"""Nearest-neighbour reads: one pgvector query over the photos the viewer may see."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction
from pgvector.django import CosineDistance

from gallery.models import Image
from gallery.selectors import visible_to
from inference.models import ImageAnalysis, ImageEmbedding
from inference.selectors import embedding_version_serving

# HNSW search breadth. With a visibility filter, iterative scan keeps walking the graph until
# enough visible rows are found instead of returning fewer than asked (pgvector >= 0.8).
HNSW_EF_SEARCH = 100
HNSW_ITERATIVE_SCAN = "relaxed_order"


def hnsw_session_settings() -> dict[str, object]:
    """The settings every similar-photos query runs under (SET LOCAL; bench/search.py measures them)."""
    return {"hnsw.ef_search": HNSW_EF_SEARCH, "hnsw.iterative_scan": HNSW_ITERATIVE_SCAN}


@dataclass(frozen=True)
class SimilarImage:
    image: Image
    similarity: float  # cosine similarity, 1 = same direction
    overlay_url: str | None


def image_similar_queryset(*, viewer, vector, model_version: str, exclude_image_id=None, limit: int):
    """The similar-photos query (also used by the EXPLAIN test): ORDER BY distance LIMIT n."""
    qs = (
        ImageEmbedding.objects.filter(model_version=model_version)
        .filter(visible_to(viewer, via="image__"))
        .select_related("image", "image__owner")
        .annotate(distance=CosineDistance("vector", vector))
    )
    if exclude_image_id is not None:
        qs = qs.exclude(image_id=exclude_image_id)
    return qs.order_by("distance")[:limit]


def image_similar_list(*, viewer, image: Image, limit: int = 24) -> list[SimilarImage] | None:
    """Photos most like ``image`` among the viewer's own and everyone's public photos.

    None when the photo has no vector of the serving version yet (its analysis is not done).
    """
    version = embedding_version_serving()
    source = ImageEmbedding.objects.filter(image=image, model_version=version).only("vector").first()
    if source is None:
        return None
    with transaction.atomic():
        with connection.cursor() as cursor:
            for name, value in hnsw_session_settings().items():
                cursor.execute(f"SET LOCAL {name} = {value}")
        rows = list(image_similar_queryset(viewer=viewer, vector=source.vector, model_version=version,
                                           exclude_image_id=image.id, limit=limit))
    # relaxed_order may return neighbours slightly out of order; the distances are exact.
    rows.sort(key=lambda row: row.distance)
    overlays = _overlay_urls([row.image_id for row in rows], version)
    return [SimilarImage(image=row.image, similarity=1.0 - float(row.distance),
                         overlay_url=overlays.get(row.image_id)) for row in rows]


def _overlay_urls(image_ids: list, version: str) -> dict:
    from django.urls import reverse

    done = ImageAnalysis.objects.filter(image_id__in=image_ids, model_version=version).exclude(overlay="")
    return {a.image_id: reverse("search:overlay", args=[a.image_id]) for a in done.only("image_id")}
