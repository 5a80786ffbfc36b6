"""Writes of the read side: searches with an outside photo or a region, analysed by the worker."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from gallery.models import AnalysisStatus, Image
from gallery.platform.queueing import task_enqueue_on_commit
from gallery.services import image_inspect
from inference import images
from inference.services import FailureWords
from search.models import SimilarityQuery

logger = logging.getLogger(__name__)

#: A region smaller than this (pixels a side) has too little in it to search with.
REGION_MIN_SIDE = 16


# Shown on the search page when the search could not be queued (a broker outage).
BROKER_DOWN = "Searching is unavailable for a moment; please try again."


class QueryRejected(ValidationError):
    """The search cannot be made; the message is meant for the person."""


def similarity_query_from_photo(*, owner, data: bytes, filename: str) -> SimilarityQuery:
    """A search with a photo that is not kept in the gallery. It is checked like an upload and
    stored only as a re-encoded copy, deleted with the query."""
    from search.tasks import similarity_query_analyze_task

    inspected = image_inspect(data=data, filename=filename)  # raises ImageRejected, a ValidationError
    query = SimilarityQuery(owner=owner)
    query.file.save("query.jpg", ContentFile(images.display_rendition(inspected.rgb)), save=False)
    try:
        with transaction.atomic():
            query.save(force_insert=True)
            task_enqueue_on_commit(similarity_query_analyze_task, str(query.id),
                                   on_broker_down=lambda: _query_fail(query, BROKER_DOWN))
    except BaseException:
        query.file.storage.delete(query.file.name)
        raise
    return query


def similarity_query_from_region(*, owner, image: Image, box: tuple[int, int, int, int]) -> SimilarityQuery:
    """A search with a region of a photo the person may see; box is (left, top, right, bottom) in
    the photo's pixels, right and bottom exclusive."""
    from search.tasks import similarity_query_analyze_task

    left, top, right, bottom = (int(v) for v in box)
    left, top = max(0, left), max(0, top)
    right, bottom = min(image.width, right), min(image.height, bottom)
    if right - left < REGION_MIN_SIDE or bottom - top < REGION_MIN_SIDE:
        raise QueryRejected(f"Draw a larger region: at least {REGION_MIN_SIDE} pixels a side, inside the photo.",
                            code="region_too_small")
    with transaction.atomic():
        query = SimilarityQuery.objects.create(owner=owner, source_image=image, box_left=left, box_top=top,
                                               box_right=right, box_bottom=bottom)
        task_enqueue_on_commit(similarity_query_analyze_task, str(query.id),
                               on_broker_down=lambda: _query_fail(query, BROKER_DOWN))
    return query


def query_gave_up_message(attempts: int) -> str:
    return (f"Stopped after {attempts} attempts: each one stopped the worker (the photo may need more memory "
            "than the worker has, or its file crashes the image decoder). Try a smaller photo or region.")


QUERY_FAILED_INTERNAL = ("The search failed because of an error on our side (logged for the site's operators); "
                         "try again.")
SEARCH_FAILURE_WORDS = FailureWords(timed_out="The search took too long and was stopped; try again.",
                                    internal=QUERY_FAILED_INTERNAL)


def similarity_query_analyze(*, query_id: str) -> SimilarityQuery | None:
    """Worker side: embed the query's photo (or region) the way every gallery photo is analysed
    (inference.services.stored_photo_analyze)."""
    from inference.services import AnalysisFailed, stored_photo_analyze

    query = SimilarityQuery.objects.filter(id=query_id).select_related("source_image").first()
    if query is None or query.status == AnalysisStatus.DONE:
        return query
    # As for photos (inference.services.image_analyze): a search whose analysis kills the worker is
    # handed back by Celery each time; it is started at most ANALYSIS_MAX_ATTEMPTS times.
    started = (SimilarityQuery.objects.filter(pk=query.pk, attempts__lt=settings.ANALYSIS_MAX_ATTEMPTS)
               .exclude(status=AnalysisStatus.DONE)
               .update(status=AnalysisStatus.RUNNING, error="", attempts=F("attempts") + 1))
    if not started:
        query.refresh_from_db()
        if query.status == AnalysisStatus.DONE:
            return query
        logger.error("similarity query %s stopped the worker %d times; marked failed", query_id, query.attempts)
        return _query_fail(query, query_gave_up_message(query.attempts))
    try:
        if query.is_region:
            run = stored_photo_analyze(file=query.source_image.file, region=query.box, words=SEARCH_FAILURE_WORDS)
        else:
            run = stored_photo_analyze(file=query.file, words=SEARCH_FAILURE_WORDS)
    except AnalysisFailed as exc:
        return _query_fail(query, str(exc))
    SimilarityQuery.objects.filter(pk=query.pk).update(
        status=AnalysisStatus.DONE, model_version=run.version, vector=run.result.vector,
        whole_vector=run.result.whole_vector, crop_vector=run.result.crop_vector, finished_at=timezone.now(),
    )
    query.refresh_from_db()
    return query


def similarity_queries_prune() -> int:
    """Delete queries (and their files) older than QUERY_KEEP_HOURS."""
    cutoff = timezone.now() - timedelta(hours=settings.QUERY_KEEP_HOURS)
    old = list(SimilarityQuery.objects.filter(created__lt=cutoff).only("id", "file"))
    names = [query.file.name for query in old if query.file]
    with transaction.atomic():
        SimilarityQuery.objects.filter(pk__in=[query.pk for query in old]).delete()
        if names:
            storage = old[0].file.storage
            transaction.on_commit(lambda: [storage.delete(name) for name in names])
    return len(old)


def _query_fail(query: SimilarityQuery, error: str) -> SimilarityQuery:
    SimilarityQuery.objects.filter(pk=query.pk).update(status=AnalysisStatus.FAILED, error=error[:2000],
                                                       finished_at=timezone.now())
    query.refresh_from_db()
    return query
