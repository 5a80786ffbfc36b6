"""Writes of derived data: analysing a photo, sweeping for missing work, retries."""

from __future__ import annotations

import functools
import logging
import time
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

import PIL.Image

from gallery import renditions
from gallery.models import AnalysisState, Image, rendition_name
from inference.images import WORKING_MAX_SIDE, load_rgb, scale_box
from inference.models import AnalysisStatus, ImageAnalysis, ImageEmbedding, analysis_file_name
from inference.overlays import saliency_map_png, saliency_overlay_png
from inference.versions import EMBEDDER_VERSION, MODEL_VERSION

logger = logging.getLogger(__name__)

SWEEP_BATCH = 500


@functools.cache
def pipeline_get():
    """The worker's one Pipeline, loaded on first use (TensorFlow stays out of web processes)."""
    from inference.pipeline import Pipeline, tensorflow_threads_set

    tensorflow_threads_set(settings.TF_NUM_THREADS)
    pipeline = Pipeline(settings.MODEL_CACHE_DIR, embedding_head=settings.EMBEDDING_HEAD or None)
    # EMBEDDER_VERSION was derived from the same setting at import; a head file replaced since would
    # store vectors under the wrong version, so refuse rather than mix two models in one index.
    if pipeline.embedder.version != EMBEDDER_VERSION:
        raise RuntimeError(
            f"embedding head changed since start-up ({pipeline.embedder.version} != {EMBEDDER_VERSION}); restart"
        )
    return pipeline


def image_analyze(*, image_id: str) -> ImageAnalysis | None:
    """Analyse one photo with the worker's pipeline. Idempotent: a done analysis is kept.

    Results are stored under the version of the models that actually made them. That is the
    configured MODEL_VERSION unless a configured model failed to load and the worker fell back
    to the last good one (logged at start-up); search then keeps serving the fallback's vectors,
    because the configured version never becomes complete.
    """
    image = Image.objects.filter(id=image_id).first()
    if image is None:
        return None  # deleted since it was queued
    pipeline = pipeline_get()
    version = pipeline.version
    analysis, _ = ImageAnalysis.objects.get_or_create(image=image, model_version=version)
    if analysis.status == AnalysisStatus.DONE:
        return analysis
    ImageAnalysis.objects.filter(pk=analysis.pk).update(
        status=AnalysisStatus.RUNNING, started_at=timezone.now(), attempts=F("attempts") + 1, error=""
    )
    # A photo already analysed by an older version stays "done" for people while a new one runs.
    Image.objects.filter(pk=image.pk).exclude(analysis_status=AnalysisState.DONE).update(
        analysis_status=AnalysisState.RUNNING, analysis_error=""
    )

    started = time.perf_counter()
    try:
        with image.file.open("rb") as handle:
            data = handle.read()
        read_ms = (time.perf_counter() - started) * 1000
        decode_start = time.perf_counter()
        rgb = load_rgb(data, max_side=WORKING_MAX_SIDE)
        decode_ms = (time.perf_counter() - decode_start) * 1000
        result = pipeline.analyze(rgb)
        map_png = saliency_map_png(result.saliency)
        overlay_png = saliency_overlay_png(result.saliency)
        thumbnail_jpegs = renditions.thumbnails(PIL.Image.fromarray(rgb), result.saliency)
    except SoftTimeLimitExceeded:
        return _analysis_fail(analysis, "Analysis took too long and was stopped; retry to try again.")
    except FileNotFoundError:
        return _analysis_fail(analysis, "The photo's file is missing from storage.")
    except Exception as exc:  # noqa: BLE001 - any model or decode error is this photo's failure
        logger.exception("analysis of %s failed", image_id)
        return _analysis_fail(analysis, f"{type(exc).__name__}: {exc}")

    # Files first (storage is not transactional), then every row in one transaction.
    map_name = _storage_replace(analysis_file_name(image.id, version, "saliency.png"), map_png)
    overlay_name = _storage_replace(analysis_file_name(image.id, version, "overlay.png"), overlay_png)
    slug = version.replace("+", "_")
    thumbnail_names = {f"thumbnail_{name}": _storage_replace(rendition_name(image.id, f"{name}-{slug}.jpg"), jpeg)
                       for name, jpeg in thumbnail_jpegs.items()}
    replaced = [getattr(image, field).name for field, name in thumbnail_names.items()
                if getattr(image, field).name not in ("", name)]
    working_size = (rgb.shape[1], rgb.shape[0])
    left, top, right, bottom = scale_box(result.crop_box, working_size, (image.width, image.height))
    timings = {"read_ms": read_ms, "decode_ms": decode_ms, **result.timings_ms,
               "total_ms": (time.perf_counter() - started) * 1000}
    with transaction.atomic():
        # The embedding carries copies of the photo's owner and visibility (search filters on them).
        # Locking the photo row orders this write with gallery.services.image_update: either the
        # change committed first and is read here, or it waits and then updates this row too.
        current = Image.objects.select_for_update().filter(pk=image.pk).values("owner_id", "visibility").first()
        if current is None:
            return None  # deleted while it was being analysed
        ImageAnalysis.objects.filter(pk=analysis.pk).update(
            status=AnalysisStatus.DONE,
            error="",
            crop_left=left, crop_top=top, crop_right=right, crop_bottom=bottom,
            saliency_map=map_name,
            overlay=overlay_name,
            timings_ms={k: round(v, 1) for k, v in timings.items()},
            finished_at=timezone.now(),
        )
        ImageEmbedding.objects.update_or_create(
            image=image,
            model_version=version,
            defaults={"vector": result.vector, "whole_vector": result.whole_vector,
                      "crop_vector": result.crop_vector, **current},
        )
        Image.objects.filter(pk=image.pk).update(
            analysis_status=AnalysisState.DONE,
            analysis_error="",
            saliency_focus=renditions.saliency_focus(result.saliency),
            **thumbnail_names,
        )
        transaction.on_commit(lambda: [default_storage.delete(name) for name in replaced])
    analysis.refresh_from_db()
    return analysis


def analysis_retry(*, analysis: ImageAnalysis) -> None:
    """Queue a failed (or stuck) analysis again; the person asked, so attempts start over."""
    from inference.tasks import image_analyze_task

    with transaction.atomic():
        ImageAnalysis.objects.filter(pk=analysis.pk).exclude(status=AnalysisStatus.DONE).update(
            status=AnalysisStatus.PENDING, error="", attempts=0, queued_at=timezone.now()
        )
        Image.objects.filter(pk=analysis.image_id).exclude(analysis_status=AnalysisState.DONE).update(
            analysis_status=AnalysisState.PENDING, analysis_error=""
        )
        image_analyze_task.delay_on_commit(str(analysis.image_id))


def images_reindex(*, image_ids: list[str]) -> int:
    """Throw away the active version's results for these photos and analyse them again."""
    from inference.tasks import image_analyze_task

    with transaction.atomic():
        ImageEmbedding.objects.filter(image_id__in=image_ids, model_version=MODEL_VERSION).delete()
        ImageAnalysis.objects.filter(image_id__in=image_ids, model_version=MODEL_VERSION).update(
            status=AnalysisStatus.PENDING, error="", attempts=0, queued_at=timezone.now()
        )
        for image_id in image_ids:
            image_analyze_task.delay_on_commit(str(image_id))
    return len(image_ids)


def analysis_sweep(*, batch: int = SWEEP_BATCH) -> dict[str, int]:
    """Queue what is missing or stuck for the active version; retire old versions once complete.

    This one path covers a lost queue message, a worker that died mid-photo, and the rollout of
    a new model version (every photo lacks an analysis of it, so all are queued, batch by batch).
    """
    from inference.tasks import image_analyze_task

    now = timezone.now()
    stuck_before = now - timedelta(seconds=settings.ANALYSIS_STUCK_SECONDS)
    # A fresh upload's own message is probably still in the queue; give it time before duplicating.
    missing_ids = list(
        Image.objects.filter(created__lt=stuck_before)
        .exclude(analyses__model_version=MODEL_VERSION)
        .order_by("created")
        .values_list("id", flat=True)[:batch]
    )
    stuck_ids = list(
        ImageAnalysis.objects.filter(model_version=MODEL_VERSION)
        .filter(
            Q(status=AnalysisStatus.PENDING, queued_at__lt=stuck_before)
            | Q(status=AnalysisStatus.RUNNING, started_at__lt=stuck_before)
        )
        .filter(attempts__lt=settings.ANALYSIS_MAX_ATTEMPTS)
        .values_list("image_id", flat=True)[:batch]
    )
    with transaction.atomic():
        ImageAnalysis.objects.bulk_create(
            [ImageAnalysis(image_id=image_id, model_version=MODEL_VERSION) for image_id in missing_ids],
            ignore_conflicts=True,
        )
        ImageAnalysis.objects.filter(image_id__in=stuck_ids, model_version=MODEL_VERSION).update(queued_at=now)
        for image_id in missing_ids + stuck_ids:
            image_analyze_task.delay_on_commit(str(image_id))
    retired = _old_versions_retire()
    counts = {"missing": len(missing_ids), "stuck": len(stuck_ids), "retired": retired}
    if any(counts.values()):
        logger.info("analysis sweep: %s", counts)
    return counts


def _old_versions_retire() -> int:
    """Once every photo has a finished analysis of the active version, drop the older ones."""
    from inference.selectors import active_version_complete

    if not active_version_complete():
        return 0
    old = list(ImageAnalysis.objects.exclude(model_version=MODEL_VERSION))
    names = [f.name for analysis in old for f in (analysis.saliency_map, analysis.overlay) if f]
    with transaction.atomic():
        ImageEmbedding.objects.exclude(model_version=MODEL_VERSION).delete()
        ImageAnalysis.objects.filter(pk__in=[a.pk for a in old]).delete()
        transaction.on_commit(lambda: [default_storage.delete(name) for name in names])
    return len(old)


def _analysis_fail(analysis: ImageAnalysis, error: str) -> ImageAnalysis:
    with transaction.atomic():
        ImageAnalysis.objects.filter(pk=analysis.pk).update(
            status=AnalysisStatus.FAILED, error=error[:2000], finished_at=timezone.now()
        )
        Image.objects.filter(pk=analysis.image_id).exclude(analysis_status=AnalysisState.DONE).update(
            analysis_status=AnalysisState.FAILED, analysis_error=error[:2000]
        )
    analysis.refresh_from_db()
    return analysis


def _storage_replace(name: str, content: bytes) -> str:
    # Deterministic names keep re-runs idempotent; Storage.save would otherwise add a suffix.
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(content))
