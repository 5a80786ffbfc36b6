"""Writes of derived data: analysing a photo, re-index marks and the sweep that works through
them, retries, and the model version registry (activate, roll back, prune)."""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
import PIL.Image
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, IntegrityError, connection, models, transaction
from django.db.models import F, Q
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from gallery.models import AnalysisStatus, Image, rendition_name
from gallery.platform.queueing import task_enqueue_on_commit
from inference import images
from inference.configuration import (
    configured_embedding_head,
    configured_embedding_model,
    configured_model_version,
    configured_saliency_model,
)
from inference.models import ImageAnalysis, ImageEmbedding, ModelVersion, VersionStatus, analysis_file_name
from inference.overlays import saliency_map_png
from inference.stages import StageClock

if TYPE_CHECKING:
    from inference.pipeline import PhotoAnalysis  # imports TensorFlow: only the worker loads it

logger = logging.getLogger(__name__)

SWEEP_BATCH = 500

# Shown to the photo's owner when an analysis failed for a reason that is ours, not the photo's
# (a model or storage error); the details are in the worker's log.
ANALYSIS_FAILED_INTERNAL = ("The analysis failed because of an error on our side (logged for the site's operators). "
                            "Retry to try again.")


def analysis_gave_up_message(attempts: int) -> str:
    """Why a photo is failed after its analysis stopped the worker ``attempts`` times."""
    return (f"Stopped after {attempts} attempts: each one stopped the worker (the photo may need more memory "
            "than the worker has, or its file crashes the image decoder). Retry to try again.")


class PhotoUndecodable(Exception):
    """The photo's own file cannot be decoded: a failure of this photo, with a message for people."""


class RetryRefused(ValidationError):
    """A retry that cannot be made (the analysis is done or running); the message says why."""


@functools.cache
def pipeline_get():
    """The worker's one Pipeline with the configured models, loaded on first use (TensorFlow stays
    out of web processes)."""
    from inference.pipeline import Pipeline, tensorflow_threads_set

    # Hashed before the models load: a head file replaced meanwhile would store vectors under the
    # wrong version, so refuse rather than mix two models in one index.
    configured = configured_model_version()
    tensorflow_threads_set(settings.TF_NUM_THREADS)
    saliency_model, vgg16_path = configured_saliency_model()
    pipeline = Pipeline(settings.MODEL_CACHE_DIR, saliency_model=saliency_model, saliency_vgg16_path=vgg16_path,
                        embedding_head=configured_embedding_head() or None,
                        embedding_model=configured_embedding_model())
    configured_embedder = configured.split("+", 1)[1]  # "<saliency version>+<embedder version>"
    if pipeline.embedder.version != configured_embedder:
        raise RuntimeError(
            f"embedding head changed since start-up ({pipeline.embedder.version} != {configured_embedder}); restart"
        )
    return pipeline


class AnalysisFailed(Exception):
    """A stored photo (or a region of one) could not be analysed; the message says why, for people."""


@dataclass(frozen=True)
class FailureWords:
    """What people are told when an analysis fails for a reason that is not their photo's."""

    timed_out: str
    internal: str  # a model or storage error of ours; the trace goes to the worker's log


PHOTO_FAILURE_WORDS = FailureWords(timed_out="Analysis took too long and was stopped; retry to try again.",
                                   internal=ANALYSIS_FAILED_INTERNAL)


@contextlib.contextmanager
def analysis_failures(subject: str, words: FailureWords):
    """Any error inside is the analysed photo's own failure, re-raised as AnalysisFailed with words
    for people: why its file cannot be decoded, that it is missing, that it took too long, or that
    the fault is ours (logged with its trace). Never retried: a corrupt photo stays corrupt."""
    try:
        yield
    except AnalysisFailed:
        raise
    except SoftTimeLimitExceeded:
        raise AnalysisFailed(words.timed_out) from None
    except FileNotFoundError:
        raise AnalysisFailed("The photo's file is missing from storage.") from None
    except PhotoUndecodable as exc:
        logger.warning("%s cannot be decoded: %s", subject, exc.__cause__)  # the library's words, for the log
        raise AnalysisFailed(str(exc)) from exc
    except Exception as exc:  # any model error fails this photo only; people get words, the log the trace
        logger.exception("analysis of %s failed", subject)
        raise AnalysisFailed(words.internal) from exc


@dataclass(frozen=True)
class StoredPhotoAnalysis:
    rgb: np.ndarray  # what the models read: upright, cropped to the region, long side <= WORKING_MAX_SIDE
    result: PhotoAnalysis
    version: str  # of the models that made it (the configured one, or the fallback that loaded)
    timings_ms: dict[str, float]  # wall and CPU ms of reading, decoding, resizing and the pipeline's stages


def stored_photo_analyze(*, file: FieldFile, region: images.Box | None = None,
                         words: FailureWords = PHOTO_FAILURE_WORDS,
                         clock: StageClock | None = None) -> StoredPhotoAnalysis:
    """The one way a stored photo is analysed, for gallery photos (image_analyze) and searches
    (search.services.similarity_query_analyze) alike: read the file through storage (never a local
    path, so S3 works), decode it upright, crop it to ``region`` (in the upright photo's pixels) if
    given, shrink it to WORKING_MAX_SIDE, and run the worker's pipeline.

    Raises AnalysisFailed, with ``words`` for the failures that are not the photo's, for anything
    that stops this photo's analysis (missing, undecodable, a model error, the task's time limit).
    Each stage's wall and CPU time goes to ``clock`` (a new one if not given) and ``timings_ms``.
    """
    clock = clock if clock is not None else StageClock()
    with analysis_failures(file.name, words):
        pipeline = pipeline_get()
        with clock.stage("read"), file.open("rb") as handle:
            data = handle.read()
        try:
            with clock.stage("decode"):
                upright = images.decode_upright(data)
            with clock.stage("resize"):
                rgb = images.working_copy(upright, max_side=images.WORKING_MAX_SIDE, box=region)
        except images.DECODE_ERRORS as exc:
            raise PhotoUndecodable(images.decode_failure_message(exc)) from exc
        result = pipeline.analyze(rgb, clock=clock)
    return StoredPhotoAnalysis(rgb=rgb, result=result, version=pipeline.version, timings_ms=clock.timings_ms())


def image_analyze(*, image_id: str, worker: str = "") -> ImageAnalysis | None:
    """Analyse one photo with the worker's pipeline. Idempotent: a done analysis is kept.
    ``worker`` (the Celery node name) is recorded on the analysis row for operators.

    Results are stored under the version of the models that actually made them. That is the
    configured version unless a configured model failed to load and the worker fell back to the
    last good one (logged at start-up). Search ranks with the registry's active version, whatever
    the workers build (model_version_activate switches it).
    """
    version = pipeline_get().version  # loads the models on a worker's first photo: not this photo's time
    clock = StageClock()
    started = time.perf_counter()
    with clock.stage("database"), _commits_without_waiting_for_disk():
        image = Image.objects.filter(id=image_id).first()
        if image is None:
            return None  # deleted since it was queued
        model_version_register(name=version)  # the admin lists every version that has results
        analysis, _ = ImageAnalysis.objects.get_or_create(image=image, model_version=version)
        if analysis.status == AnalysisStatus.DONE:
            return analysis
        if not _analysis_attempt_start(analysis, worker=worker):
            # Every allowed attempt was started and none finished: the worker died each time (out of
            # memory, a crash in a native decoder or in TensorFlow) and Celery handed the job back
            # (CELERY_TASK_REJECT_ON_WORKER_LOST). Starting it again would only kill the next worker.
            analysis.refresh_from_db()
            if analysis.status == AnalysisStatus.DONE:
                return analysis
            logger.error("analysis of %s stopped the worker %d times; marked failed", image_id, analysis.attempts)
            return _analysis_fail(analysis, analysis_gave_up_message(analysis.attempts))
        # A photo already analysed by an older version stays "done" for people while a new one runs.
        Image.objects.filter(pk=image.pk).exclude(analysis_status=AnalysisStatus.DONE).update(
            analysis_status=AnalysisStatus.RUNNING, analysis_error=""
        )

    try:
        run = stored_photo_analyze(file=image.file, clock=clock)
        with analysis_failures(image_id, PHOTO_FAILURE_WORDS):
            with clock.stage("map_encode"):
                # The heat map is drawn on request from this 8-bit map (gallery.heatmaps), so no
                # overlay image is made here.
                map_png = saliency_map_png(images.stored_map(run.result.saliency))
            with clock.stage("renditions"):
                focus = images.saliency_focus(run.result.saliency)
                rgb = PIL.Image.fromarray(run.rgb)
                # A thumbnail whose window is still the centred one the upload stored is kept.
                thumbnail_jpegs = _thumbnails_to_render(image, rgb, run.result.saliency)
    except AnalysisFailed as exc:
        return _analysis_fail(analysis, str(exc))
    result = run.result

    # Files first (storage is not transactional), then every row in one transaction.
    with clock.stage("storage"):
        map_name = _storage_replace(analysis_file_name(image.id, version, "saliency.png"), map_png)
        slug = version.replace("+", "_")
        thumbnail_names = {f"thumbnail_{name}": _storage_replace(rendition_name(image.id, f"{name}-{slug}.jpg"), jpeg)
                           for name, jpeg in thumbnail_jpegs.items()}
    replaced = [getattr(image, field).name for field, name in thumbnail_names.items()
                if getattr(image, field).name not in ("", name)]
    if analysis.overlay:
        replaced.append(analysis.overlay.name)  # an overlay PNG an older worker stored for this analysis
    working_size = (run.rgb.shape[1], run.rgb.shape[0])
    left, top, right, bottom = images.scale_box(result.crop_box, working_size, (image.width, image.height))
    with transaction.atomic():
        with clock.stage("database"):
            # The embedding carries copies of the photo's owner and visibility (search filters on
            # them). Locking the photo row orders this write with gallery.services.image_update:
            # either the change committed first and is read here, or it waits and then updates
            # this row too.
            current = Image.objects.select_for_update().filter(pk=image.pk).values("owner_id", "visibility").first()
            if current is None:
                return None  # deleted while it was being analysed
            # One INSERT ... ON CONFLICT UPDATE (update_or_create takes a SELECT and a savepoint).
            vectors = {"vector": result.vector, "whole_vector": result.whole_vector, "crop_vector": result.crop_vector}
            ImageEmbedding.objects.bulk_create(
                [ImageEmbedding(image=image, model_version=version, **vectors, **current)],
                update_conflicts=True, unique_fields=["image", "model_version"],
                update_fields=[*vectors, *current],
            )
            Image.objects.filter(pk=image.pk).update(
                analysis_status=AnalysisStatus.DONE,
                analysis_error="",
                saliency_focus=focus,
                **thumbnail_names,
            )
            transaction.on_commit(lambda: [default_storage.delete(name) for name in replaced])
        # The stored timings cover everything but this last UPDATE and the commit.
        timings = {**clock.timings_ms(), "total_ms": (time.perf_counter() - started) * 1000}
        ImageAnalysis.objects.filter(pk=analysis.pk).update(
            status=AnalysisStatus.DONE,
            error="",
            crop_left=left, crop_top=top, crop_right=right, crop_bottom=bottom,
            saliency_map=map_name,
            overlay="",  # drawn on request from the map (gallery.heatmaps); older analyses may have one
            timings_ms={k: round(v, 1) for k, v in timings.items()},
            finished_at=timezone.now(),
        )
    model_version_activate_first(name=version)
    analysis.refresh_from_db()
    return analysis


@contextlib.contextmanager
def _commits_without_waiting_for_disk():
    """Statements in this block commit (each on its own, as before) without waiting for
    PostgreSQL to flush them to disk: ``synchronous_commit`` off for this connection, then back.

    Used for the start of an analysis (its row, the attempt count, the photo's "running"): three
    commits whose fsyncs were most of the database stage's wait beyond its CPU (bench/ingest.py,
    issue 17). A worker that dies loses nothing: the commits are in the server's WAL buffers,
    written within 3 x wal_writer_delay (600 ms by default). Only a crash of PostgreSQL itself (or
    its machine) in that window loses them, each whole, never half, and that is recovered: the
    photo's analysis row is then missing or still pending, or its attempt count is one lower, and
    analysis_sweep queues it again (missing, or stuck after ANALYSIS_STUCK_SECONDS), as it does for
    a lost queue message. The final write keeps durable commits: it deletes replaced thumbnails
    once committed, and a lost commit there would leave the photo pointing at deleted files.
    Session-level, not one transaction around the block: that would hold the analysis row's lock
    while taking the photo's, the opposite order to the final write's, and could deadlock with a
    second delivery of the same job.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO DEFAULT")
        except DatabaseError:
            connection.close()  # never leave a connection that commits without waiting to the next job
            raise


def _thumbnails_to_render(image: Image, rgb: PIL.Image.Image, saliency: np.ndarray) -> dict[str, bytes]:
    """The thumbnails this analysis must store: those whose saliency window moved from the centred
    one, and every one the upload's centred file no longer shows (a re-analysis after a version
    whose window differed). Drawing and encoding a thumbnail cost ~10 ms each."""
    moved = images.thumbnails_moved(rgb, saliency)
    stale = {name: images.thumbnail(rgb, spec, saliency) for name, spec in images.THUMBNAILS.items()
             if name not in moved and not image.thumbnail_file(name).name.endswith(f"/{name}-centre.jpg")}
    return {**moved, **stale}


def _analysis_attempt_start(analysis: ImageAnalysis, *, worker: str) -> bool:
    """Count one more attempt and mark it running, unless ANALYSIS_MAX_ATTEMPTS were started
    already. One UPDATE: two deliveries of the same job cannot both pass the check."""
    return bool(
        ImageAnalysis.objects.filter(pk=analysis.pk, attempts__lt=settings.ANALYSIS_MAX_ATTEMPTS)
        .exclude(status=AnalysisStatus.DONE)
        .update(status=AnalysisStatus.RUNNING, started_at=timezone.now(), attempts=F("attempts") + 1, error="",
                worker=worker)
    )


def _retry_allowed() -> Q:
    """Analyses a retry may restart: not done, and not running unless stuck (its worker is gone)."""
    stuck_before = timezone.now() - timedelta(seconds=settings.ANALYSIS_STUCK_SECONDS)
    return ~Q(status=AnalysisStatus.DONE) & ~Q(status=AnalysisStatus.RUNNING, started_at__gte=stuck_before)


def analysis_retry(*, analysis: ImageAnalysis) -> bool:
    """Analyse a failed, waiting or stuck photo again; the person asked, so attempts start over.

    The one rule for every door (photo page, API, admin action, jobs page). Raises RetryRefused
    for an analysis that is done or running. True when the job was queued now. An analysis of a
    version the running workers do not build is marked instead (False): a worker would make the
    version it builds, not this one, so the mark waits for the sweep of workers configured with
    that version's models.
    """
    from inference.selectors import version_built_by_workers
    from inference.tasks import image_analyze_task

    queue_now = analysis.model_version == version_built_by_workers()
    with transaction.atomic():
        # The check and the change are one UPDATE, so a worker that finishes meanwhile wins.
        restarted = ImageAnalysis.objects.filter(_retry_allowed(), pk=analysis.pk).update(
            status=AnalysisStatus.PENDING, error="", attempts=0, queued_at=timezone.now() if queue_now else None
        )
        if not restarted:
            analysis.refresh_from_db()
            raise RetryRefused(_retry_refusal_message(analysis), code="not_retryable")
        Image.objects.filter(pk=analysis.image_id).exclude(analysis_status=AnalysisStatus.DONE).update(
            analysis_status=AnalysisStatus.PENDING, analysis_error=""
        )
        if queue_now:
            # A broker outage must not fail the request: the row is pending and the sweep re-queues it.
            task_enqueue_on_commit(image_analyze_task, str(analysis.image_id))
    analysis.refresh_from_db()
    return queue_now


def image_analysis_retry(*, image: Image) -> bool:
    """Retry a photo's analysis by the models the workers build (the only one a retry can make now);
    analysis_retry's rules and answer. A photo with no such analysis yet gets one, queued now."""
    from inference.selectors import version_built_by_workers

    analysis, _ = ImageAnalysis.objects.get_or_create(image=image, model_version=version_built_by_workers())
    return analysis_retry(analysis=analysis)


def _retry_refusal_message(analysis: ImageAnalysis) -> str:
    if analysis.status == AnalysisStatus.DONE:
        return "This photo is already analysed; there is nothing to retry."
    if analysis.status == AnalysisStatus.RUNNING:
        return "This photo is being analysed right now; wait for it to finish."
    return "This analysis cannot be retried now."  # changed between the check and the answer


class ReindexScope(models.TextChoices):
    ALL = "all", "every photo (done ones are redone)"
    MISSING = "missing", "only photos without an analysis of this version"
    FAILED = "failed", "only photos whose analysis failed"


@dataclass(frozen=True)
class ReindexMarked:
    version: str
    scope: str
    marked: int
    built_by_workers: bool  # False: the marks wait until workers running this version's models start


def reindex_mark(*, version: str, scope: str, image_ids: list[str] | None = None) -> ReindexMarked:
    """Mark photos for (re-)analysis under ``version``; the sweep queues the marks in batches.

    Two statements, whatever the gallery's size: nothing here loops over photos, so it is safe in
    a web request, and the marks live in PostgreSQL, so a restarted worker or sweep picks up
    where the last one stopped. Done results stay in place (and keep serving) until replaced.
    """
    from inference.selectors import version_built_by_workers

    if scope not in ReindexScope.values:
        raise ValueError(f"scope must be one of {ReindexScope.values}, not {scope!r}")
    with transaction.atomic():
        registered = model_version_register(name=version)
        if registered.status in (VersionStatus.PRUNING, VersionStatus.PRUNED):
            # Re-analysing makes it a live version again; its old rows are gone or going.
            ModelVersion.objects.filter(pk=registered.pk).update(status=VersionStatus.BUILDING, pruned_at=None)
        existing = ImageAnalysis.objects.filter(model_version=version)
        if image_ids is not None:
            existing = existing.filter(image_id__in=image_ids)
        if scope == ReindexScope.FAILED:
            existing = existing.filter(status=AnalysisStatus.FAILED)
        elif scope == ReindexScope.ALL:
            # A running analysis is being made fresh right now; marking it would be lost anyway.
            existing = existing.exclude(status=AnalysisStatus.RUNNING)
        else:
            existing = existing.none()
        marked = existing.update(status=AnalysisStatus.PENDING, error="", attempts=0, queued_at=None)
        if scope != ReindexScope.FAILED:
            marked += _missing_analyses_mark(version=version, image_ids=image_ids)
        transaction.on_commit(_sweep_kick)  # start now rather than at the next beat
    return ReindexMarked(version=version, scope=scope, marked=marked,
                         built_by_workers=version == version_built_by_workers())


def _sweep_kick() -> None:
    from inference.tasks import analysis_sweep_task

    try:
        analysis_sweep_task.delay()
    except Exception:  # the marks are committed; the beat's next sweep picks them up
        logger.warning("could not queue a sweep now; the next scheduled sweep will", exc_info=True)


def _missing_analyses_mark(*, version: str, image_ids: list[str] | None = None,
                           created_before=None) -> int:
    """One INSERT ... SELECT of marked rows for photos that have no analysis of ``version``."""
    analysis_table = ImageAnalysis._meta.db_table
    image_table = Image._meta.db_table
    conditions, params = [], [version, version]
    if image_ids is not None:
        conditions.append("i.id = ANY(%s::uuid[])")
        params.append([str(i) for i in image_ids])
    if created_before is not None:
        conditions.append("i.created < %s")
        params.append(created_before)
    where = "".join(f" AND {c}" for c in conditions)
    sql = (
        f"INSERT INTO {analysis_table} (image_id, model_version, status, error, attempts, timings_ms,"
        f" saliency_map, overlay, queued_at)"
        f" SELECT i.id, %s, 'pending', '', 0, '{{}}'::jsonb, '', '', NULL FROM {image_table} i"
        f" WHERE NOT EXISTS (SELECT 1 FROM {analysis_table} a WHERE a.image_id = i.id AND a.model_version = %s)"
        f"{where} ON CONFLICT (image_id, model_version) DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def analysis_sweep(*, version: str | None = None, batch: int = SWEEP_BATCH) -> dict[str, int]:
    """Queue what is marked, missing or stuck for ``version`` (default: the configured one).

    This one path covers a re-index, a lost queue message, a worker that died mid-photo, and the
    rollout of a new model version (every photo lacks an analysis of it). At most ``batch`` jobs
    are in flight: each run tops the queue up, so a re-index of any size moves at the workers'
    pace and resumes after any restart. Old versions are never deleted here (see
    model_version_prune): their vectors are what a roll-back returns to.
    """
    from inference.tasks import image_analyze_task

    version = version or configured_model_version()
    now = timezone.now()
    stuck_before = now - timedelta(seconds=settings.ANALYSIS_STUCK_SECONDS)
    with transaction.atomic():
        model_version_register(name=version, seen_by_workers=True)
        # A fresh upload's own message is probably still in the queue; give it time before duplicating.
        missing = _missing_analyses_mark(version=version, created_before=stuck_before)
        rows = ImageAnalysis.objects.filter(model_version=version)
        stuck = rows.filter(
            Q(status=AnalysisStatus.PENDING, queued_at__lt=stuck_before)
            | Q(status=AnalysisStatus.RUNNING, started_at__lt=stuck_before)
        )
        # A photo whose worker died every time is a failure an operator must see, not a silent loop.
        # (The common case, a job handed back after its worker died, is stopped by image_analyze;
        # this catches a last attempt whose message was lost with its whole worker.)
        gave_up = _analyses_give_up(stuck.filter(attempts__gte=settings.ANALYSIS_MAX_ATTEMPTS), now=now)
        stuck_ids = list(stuck.values_list("image_id", flat=True)[:batch])
        in_flight = rows.filter(
            Q(status=AnalysisStatus.PENDING, queued_at__gte=stuck_before)
            | Q(status=AnalysisStatus.RUNNING, started_at__gte=stuck_before)
        ).count()
        budget = max(0, batch - in_flight - len(stuck_ids))
        # skip_locked: two sweeps running at once share the marks instead of queueing them twice.
        marked_ids = list(
            rows.filter(status=AnalysisStatus.PENDING, queued_at__isnull=True)
            .order_by("id").select_for_update(skip_locked=True).values_list("image_id", flat=True)[:budget]
        )
        # Back to pending: a re-queued job counts as in flight until it is stuck again.
        rows.filter(image_id__in=stuck_ids + marked_ids).update(status=AnalysisStatus.PENDING, queued_at=now)
        for image_id in stuck_ids + marked_ids:
            task_enqueue_on_commit(image_analyze_task, str(image_id))
    counts = {"missing": missing, "stuck": len(stuck_ids), "queued": len(marked_ids), "gave_up": gave_up}
    if any(counts.values()):
        logger.info("analysis sweep of %s: %s", version, counts)
    return counts


# --- the model version registry ------------------------------------------------------------------


class VersionSwitchError(ValueError):
    """An activation, roll-back or prune that is not allowed; the message says why."""


def model_version_register(*, name: str, seen_by_workers: bool = False) -> ModelVersion:
    """The registry row for ``name``, created (building) on first sight."""
    version, _ = ModelVersion.objects.get_or_create(name=name)
    if seen_by_workers:
        ModelVersion.objects.filter(pk=version.pk).update(workers_seen_at=timezone.now())
    return version


def model_version_activate(*, name: str, force: bool = False) -> ModelVersion:
    """Switch all search to ``name`` at one moment.

    Allowed when every photo has a finished analysis of it; ``force`` activates an incomplete
    version (photos without its vector drop out of search until they get one). The switch is
    two UPDATEs in one transaction under a row lock: searches read the active row once, so each
    one ranks entirely with the old vectors or entirely with the new ones.
    """
    from inference.selectors import version_coverage

    with transaction.atomic():
        # Lock the registry: concurrent activations queue up instead of both "winning".
        versions = {v.name: v for v in ModelVersion.objects.select_for_update().all()}
        target = versions.get(name)
        if target is None:
            raise VersionSwitchError(f"No model version {name!r} is registered.")
        if target.status == VersionStatus.ACTIVE:
            return target
        if target.status in (VersionStatus.PRUNING, VersionStatus.PRUNED):
            raise VersionSwitchError(f"{name} was pruned: its vectors are gone. Re-index it first.")
        coverage = version_coverage(name=name)
        if not coverage.complete and not force:
            raise VersionSwitchError(
                f"{name} covers {coverage.done} of {coverage.total} photos ({coverage.unfinished} unfinished); "
                "wait for the re-index to finish, or force the switch."
            )
        current = next((v for v in versions.values() if v.status == VersionStatus.ACTIVE), None)
        now = timezone.now()
        if current is not None:
            ModelVersion.objects.filter(pk=current.pk).update(status=VersionStatus.RETIRED, deactivated_at=now)
        ModelVersion.objects.filter(pk=target.pk).update(
            status=VersionStatus.ACTIVE, activated_at=now, previous=current
        )
    target.refresh_from_db()
    logger.info("model version %s activated (previous: %s, forced: %s)", name, current, force)
    return target


def model_version_rollback() -> ModelVersion:
    """Return search to the version that was active before the current one; instant, because
    its vectors were kept. Photos added since it served may lack its vectors (they reappear in
    search once re-indexed for it)."""
    active = ModelVersion.objects.filter(status=VersionStatus.ACTIVE).select_related("previous").first()
    if active is None or active.previous is None:
        raise VersionSwitchError("There is no previous version to roll back to.")
    return model_version_activate(name=active.previous.name, force=True)


def model_version_activate_first(*, name: str) -> bool:
    """A fresh install has no active version: the first version with a finished photo becomes it,
    so a new user's search works without an admin step. Later switches are explicit."""
    if ModelVersion.objects.filter(status=VersionStatus.ACTIVE).exists():
        return False
    try:
        with transaction.atomic():
            model_version_register(name=name)
            updated = ModelVersion.objects.filter(name=name).update(status=VersionStatus.ACTIVE,
                                                                    activated_at=timezone.now())
    except IntegrityError:
        return False  # another worker activated a version at the same moment; it stands
    return bool(updated)


def model_version_prune(*, name: str) -> ModelVersion:
    """Ask for a version's rows and files to be deleted (in the background: it can be large)."""
    from inference.tasks import model_version_prune_task

    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().filter(name=name).first()
        if version is None:
            raise VersionSwitchError(f"No model version {name!r} is registered.")
        if version.status == VersionStatus.ACTIVE:
            raise VersionSwitchError(f"{name} is active; activate another version before pruning it.")
        ModelVersion.objects.filter(pk=version.pk).update(status=VersionStatus.PRUNING)
        task_enqueue_on_commit(model_version_prune_task, name)
    version.refresh_from_db()
    return version


def model_version_prune_run(*, name: str, batch: int = 1000) -> int:
    """Delete a pruned version's embeddings, analyses and files, batch by batch (resumable)."""
    deleted = 0
    while True:
        with transaction.atomic():
            version = ModelVersion.objects.select_for_update().filter(name=name).first()
            if version is None or version.status != VersionStatus.PRUNING:
                return deleted  # re-activated or re-indexed since the request: keep everything
            analyses = list(ImageAnalysis.objects.filter(model_version=name).order_by("id")[:batch])
            if not analyses:
                ModelVersion.objects.filter(pk=version.pk).update(status=VersionStatus.PRUNED,
                                                                  pruned_at=timezone.now())
                ImageEmbedding.objects.filter(model_version=name).delete()
                return deleted
            image_ids = [a.image_id for a in analyses]
            names = [f.name for a in analyses for f in (a.saliency_map, a.overlay) if f]
            ImageEmbedding.objects.filter(model_version=name, image_id__in=image_ids).delete()
            ImageAnalysis.objects.filter(pk__in=[a.pk for a in analyses]).delete()
            transaction.on_commit(lambda names=names: [default_storage.delete(n) for n in names])
            deleted += len(analyses)


def _analyses_give_up(analyses, *, now) -> int:
    """Mark analyses failed after ANALYSIS_MAX_ATTEMPTS, and their photos with them (for people)."""
    error = analysis_gave_up_message(settings.ANALYSIS_MAX_ATTEMPTS)
    image_ids = list(analyses.values_list("image_id", flat=True))
    gave_up = analyses.update(status=AnalysisStatus.FAILED, finished_at=now, error=error)
    Image.objects.filter(pk__in=image_ids).exclude(analysis_status=AnalysisStatus.DONE).update(
        analysis_status=AnalysisStatus.FAILED, analysis_error=error
    )
    return gave_up


def _analysis_fail(analysis: ImageAnalysis, error: str) -> ImageAnalysis:
    with transaction.atomic():
        ImageAnalysis.objects.filter(pk=analysis.pk).update(
            status=AnalysisStatus.FAILED, error=error[:2000], finished_at=timezone.now()
        )
        Image.objects.filter(pk=analysis.image_id).exclude(analysis_status=AnalysisStatus.DONE).update(
            analysis_status=AnalysisStatus.FAILED, analysis_error=error[:2000]
        )
    analysis.refresh_from_db()
    return analysis


def _storage_replace(name: str, content: bytes) -> str:
    # Deterministic names keep re-runs idempotent; Storage.save would otherwise add a suffix.
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(content))
