"""Reads of derived data, shared by pages, the API and search."""

from __future__ import annotations

from django.db.models import Count

from gallery.models import Image
from inference.models import AnalysisStatus, ImageAnalysis, ImageEmbedding
from inference.versions import MODEL_VERSION

FINISHED = (AnalysisStatus.DONE, AnalysisStatus.FAILED)


def active_version_complete() -> bool:
    """True when every photo has a finished (done or failed) analysis of the active version."""
    finished = ImageAnalysis.objects.filter(model_version=MODEL_VERSION, status__in=FINISHED)
    return not Image.objects.exclude(id__in=finished.values("image_id")).exists()


def embedding_version_serving() -> str:
    """The model version search ranks with.

    A new version serves only once it is complete; until then the older version with the most
    vectors keeps serving, so search never sees a half-indexed gallery.
    """
    if active_version_complete():
        return MODEL_VERSION
    counts = dict(
        ImageEmbedding.objects.exclude(model_version=MODEL_VERSION)
        .values_list("model_version")
        .annotate(n=Count("id"))
        .values_list("model_version", "n")
    )
    if not counts:
        return MODEL_VERSION
    return max(counts, key=counts.get)


def image_analysis_latest(*, image_id) -> ImageAnalysis | None:
    """The analysis to show for a photo: the active version's, else the newest finished older one."""
    return _analysis_shown(list(ImageAnalysis.objects.filter(image_id=image_id).order_by("-queued_at")))


def image_analyses_latest(*, image_ids) -> dict:
    """image_analysis_latest for a page of photos in one query: {image_id: analysis}; photos
    without any analysis are missing from the dict."""
    by_image: dict = {}
    for analysis in ImageAnalysis.objects.filter(image_id__in=image_ids).order_by("-queued_at"):
        by_image.setdefault(analysis.image_id, []).append(analysis)
    return {image_id: _analysis_shown(analyses) for image_id, analyses in by_image.items()}


def _analysis_shown(analyses: list[ImageAnalysis]) -> ImageAnalysis | None:
    # analyses: one photo's, newest first.
    active = next((a for a in analyses if a.model_version == MODEL_VERSION), None)
    if active is not None and active.status == AnalysisStatus.DONE:
        return active
    older_done = next((a for a in analyses if a.status == AnalysisStatus.DONE), None)
    return older_done or active
