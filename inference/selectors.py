"""Reads of derived data, shared by pages, the API, search and the admin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import BooleanField, Count, ExpressionWrapper, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from gallery.models import AnalysisStatus, Image
from gallery.platform.prepared import PreparedQuery
from gallery.platform.queueing import queue_lengths
from inference.configuration import configured_model_version
from inference.models import ImageAnalysis, ModelVersion, VersionStatus

FINISHED = (AnalysisStatus.DONE, AnalysisStatus.FAILED)
#: A worker that has not swept for this long no longer counts as "the workers build X".
WORKERS_SEEN_WITHIN = timedelta(minutes=10)


def embedding_version_serving() -> str:
    """The model version search ranks with: the registry's active row.

    One indexed read per search. Activation flips the row in a transaction, so a search reads
    either the old name or the new one and then uses only that version's vectors. A fresh install
    has no active row until its first photo is analysed (services.model_version_activate_first);
    until then the configured version is the only one there can be.
    """
    return _active_version_name().first() or configured_model_version()


def embedding_version_serving_expression(configured_version: str | None = None) -> Coalesce:
    """embedding_version_serving as an SQL expression, for a query that needs the version and
    its rows in one statement (a results page): the same rule, read in the same snapshot.
    ``configured_version``: configured_model_version(), or a placeholder for it in a query
    compiled once (gallery.platform.prepared)."""
    configured = configured_model_version() if configured_version is None else configured_version
    return Coalesce(Subquery(_active_version_name()[:1]), Value(configured))


def _active_version_name():
    # At most one row is active (a constraint), ordered anyway so both readers agree if that ever breaks.
    return ModelVersion.objects.filter(status=VersionStatus.ACTIVE).order_by("pk").values_list("name", flat=True)


def version_built_by_workers() -> str:
    """The version the running workers build (they record it on every sweep), else the one this
    process is configured with. Workers can only build their own configured models, so this is
    the only version a re-index can make new results for."""
    recent = timezone.now() - WORKERS_SEEN_WITHIN
    seen = (ModelVersion.objects.filter(workers_seen_at__gte=recent).order_by("-workers_seen_at")
            .values_list("name", flat=True).first())
    return seen or configured_model_version()


@dataclass(frozen=True)
class Coverage:
    name: str
    total: int  # photos in the gallery
    done: int
    failed: int
    running: int
    queued: int  # pending and handed to the broker
    marked: int  # pending, waiting for the sweep to queue them

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def unfinished(self) -> int:
        return self.total - self.finished

    @property
    def complete(self) -> bool:
        return self.finished >= self.total

    @property
    def percent(self) -> float:
        return 100.0 if self.total == 0 else round(100.0 * self.finished / self.total, 1)


def version_coverage(*, name: str) -> Coverage:
    return version_coverages(names=[name])[name]


def version_coverages(*, names: list[str]) -> dict[str, Coverage]:
    """Progress of each version over the whole gallery: two aggregate queries for any number."""
    total = Image.objects.count()
    counts: dict[str, dict[str, int]] = {name: {} for name in names}
    rows = (ImageAnalysis.objects.filter(model_version__in=names)
            .annotate(unqueued=ExpressionWrapper(Q(queued_at__isnull=True), output_field=BooleanField()))
            .values_list("model_version", "status", "unqueued")
            .annotate(n=Count("id")).order_by())
    for name, status, unqueued, n in rows:
        key = "marked" if status == AnalysisStatus.PENDING and unqueued else status
        counts[name][key] = counts[name].get(key, 0) + n
    return {
        name: Coverage(name=name, total=total, done=c.get("done", 0), failed=c.get("failed", 0),
                       running=c.get("running", 0), queued=c.get("pending", 0), marked=c.get("marked", 0))
        for name, c in counts.items()
    }


@dataclass(frozen=True)
class VersionRow:
    version: ModelVersion
    coverage: Coverage
    median_ms: float | None  # median total time per photo, from the worker's own timings
    built_by_workers: bool
    is_rollback_target: bool

    @property
    def is_active(self) -> bool:
        return self.version.status == VersionStatus.ACTIVE


def model_version_list() -> list[VersionRow]:
    """Every registered version, newest first, with coverage, failures and median time."""
    versions = list(ModelVersion.objects.all())
    known = {v.name for v in versions}
    # Versions with rows but no registry entry (written by an older release) are listed too.
    unregistered = ImageAnalysis.objects.exclude(model_version__in=known).values_list("model_version", flat=True)
    for name in unregistered.distinct():
        versions.append(ModelVersion(name=name, status=VersionStatus.BUILDING))
    names = [v.name for v in versions]
    coverages = version_coverages(names=names)
    medians = _median_total_ms(names)
    built = version_built_by_workers()
    active = next((v for v in versions if v.status == VersionStatus.ACTIVE), None)
    return [
        VersionRow(version=v, coverage=coverages[v.name], median_ms=medians.get(v.name),
                   built_by_workers=v.name == built,
                   is_rollback_target=active is not None and active.previous_id is not None
                   and v.pk == active.previous_id)
        for v in versions
    ]


def _median_total_ms(names: list[str]) -> dict[str, float]:
    if not names:
        return {}
    sql = (
        "SELECT model_version, percentile_cont(0.5) WITHIN GROUP (ORDER BY (timings_ms->>'total_ms')::float)"
        f" FROM {ImageAnalysis._meta.db_table}"
        " WHERE model_version = ANY(%s) AND status = 'done' AND timings_ms ? 'total_ms' GROUP BY model_version"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [names])
        return {name: round(value, 1) for name, value in cursor.fetchall() if value is not None}


@dataclass(frozen=True)
class JobsOverview:
    queue_lengths: dict[str, int | None]  # None: the broker could not be reached
    broker_error: str
    running: list[ImageAnalysis]
    done_last_hour: int
    failed_last_hour: int
    recent_failures: list[ImageAnalysis]
    marked: int  # waiting for the sweep
    now: datetime
    busy_seconds_last_hour: float  # how long, within the hour, at least one analysis was running

    @property
    def per_minute_last_hour(self) -> float:
        """Photos per minute while the workers were busy: 30 photos done in 10 s are 180 a minute,
        not the 0.5 that dividing by the hour would say."""
        finished = self.done_last_hour + self.failed_last_hour
        if not finished:
            return 0.0
        return round(finished * 60 / max(self.busy_seconds_last_hour, 1.0), 1)


def jobs_overview(*, failures: int = 20) -> JobsOverview:
    now = timezone.now()
    hour_ago = now - timedelta(hours=1)
    finished = dict(
        ImageAnalysis.objects.filter(finished_at__gte=hour_ago).values_list("status")
        .annotate(n=Count("id")).values_list("status", "n").order_by()
    )
    lengths, error = broker_queue_lengths()
    return JobsOverview(
        queue_lengths=lengths,
        broker_error=error,
        running=list(ImageAnalysis.objects.filter(status=AnalysisStatus.RUNNING)
                     .select_related("image").order_by("started_at")[:50]),
        done_last_hour=finished.get(AnalysisStatus.DONE, 0),
        failed_last_hour=finished.get(AnalysisStatus.FAILED, 0),
        recent_failures=list(ImageAnalysis.objects.filter(status=AnalysisStatus.FAILED)
                             .select_related("image", "image__owner").order_by("-finished_at")[:failures]),
        marked=ImageAnalysis.objects.filter(status=AnalysisStatus.PENDING, queued_at__isnull=True).count(),
        now=now,
        busy_seconds_last_hour=analyses_busy_seconds(since=hour_ago),
    )


def analyses_busy_seconds(*, since: datetime) -> float:
    """Seconds since ``since`` during which at least one analysis that has finished was running:
    the union of their [started, finished] intervals (overlapping ones, from parallel workers,
    count once), in one query over the finished_at index."""
    sql = f"""
        WITH spans AS (
            SELECT LEAST(GREATEST(COALESCE(started_at, finished_at), %(since)s), finished_at) AS s, finished_at AS f
            FROM {ImageAnalysis._meta.db_table} WHERE finished_at >= %(since)s
        ), marked AS (
            SELECT s, f, CASE WHEN s <= MAX(f) OVER (ORDER BY s, f ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                              THEN 0 ELSE 1 END AS starts_island
            FROM spans
        ), islands AS (
            SELECT s, f, SUM(starts_island) OVER (ORDER BY s, f) AS island FROM marked
        )
        SELECT COALESCE(SUM(EXTRACT(EPOCH FROM island_end - island_start)), 0)
        FROM (SELECT MIN(s) AS island_start, MAX(f) AS island_end FROM islands GROUP BY island) AS busy
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"since": since})
        return float(cursor.fetchone()[0])


def broker_queue_lengths() -> tuple[dict[str, int | None], str]:
    """Messages waiting in each worker queue (gallery.platform.queueing.queue_lengths), and the
    broker's error, if it is down, for the dashboard to show."""
    return queue_lengths(worker_queues())


def worker_queues() -> list[str]:
    """The queues workers consume, in the order they poll them (settings.WORKER_QUEUES)."""
    return [name.strip() for name in settings.WORKER_QUEUES.split(",") if name.strip()]


def image_analysis_shown(*, image_id) -> ImageAnalysis | None:
    """The analysis to show for a photo: the serving version's when done (the maps match what
    search ranks by), else the newest done one, else the newest unfinished one."""
    # Every photo page asks this: prepared once per process (gallery.platform.prepared).
    return _analysis_shown(_ANALYSES_OF_IMAGE.list(values={"image_id": image_id,
                                                           "configured_version": configured_model_version()}))


def image_analyses_shown(*, image_ids) -> dict:
    """image_analysis_shown for a page of photos in one query: {image_id: analysis}; photos
    without any analysis are missing from the dict."""
    by_image: dict = {}
    for analysis in _analyses_newest_first().filter(image_id__in=image_ids):
        by_image.setdefault(analysis.image_id, []).append(analysis)
    return {image_id: _analysis_shown(analyses) for image_id, analyses in by_image.items()}


def _analyses_newest_first(configured_version: str | None = None):
    # Whether each row is of the serving version, decided in the same query (lists stay at one
    # query): the active registry row's version, or the configured one while none is active.
    # (One scalar subquery, not two EXISTS: the photo page's query costs the web process a third
    # less to build.)
    serving = Q(model_version=embedding_version_serving_expression(configured_version))
    # By id: queued_at is empty on rows marked for re-index.
    return ImageAnalysis.objects.annotate(
        is_serving=ExpressionWrapper(serving, output_field=BooleanField())).order_by("-id")


_ANALYSES_OF_IMAGE = PreparedQuery(
    lambda *, image_id, configured_version: _analyses_newest_first(configured_version).filter(image_id=image_id),
    image_id=Image._meta.pk, configured_version=ImageAnalysis._meta.get_field("model_version"))


def _analysis_shown(analyses: list[ImageAnalysis]) -> ImageAnalysis | None:
    # analyses: one photo's, newest first, annotated by _analyses_newest_first.
    for analysis in analyses:
        if analysis.is_serving and analysis.status == AnalysisStatus.DONE:
            return analysis
    done = next((a for a in analyses if a.status == AnalysisStatus.DONE), None)
    return done or (analyses[0] if analyses else None)
