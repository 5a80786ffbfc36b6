"""The real re-index path: reindex command -> marks -> sweep -> a real Celery worker with the real
models; and a worker SIGKILLed in the middle of a re-index, replaced, finishing with no duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count

from gallery import services as gallery_services
from gallery.models import AnalysisStatus
from inference import selectors, services
from inference.configuration import configured_model_version
from inference.models import ImageAnalysis, ImageEmbedding
from tests.conftest import ROOT, database_url_for_tests, photo_bytes, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The worker loads TensorFlow and the models before its first photo.
WORKER_START_TIMEOUT_S = 180


def broker_queues_purge() -> None:
    from gallery.config.celery import app

    with app.connection_for_write() as conn:
        for name in selectors.worker_queues():
            conn.default_channel.queue_purge(name)


@pytest.fixture
def workers(settings, tmp_path):
    """Starts real worker processes on the test database and broker; stops (or reaps) them all."""
    broker_queues_purge()
    started: list[subprocess.Popen] = []

    def start(**env_extra: str) -> subprocess.Popen:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "gallery.config.settings.test",
               "DATABASE_URL": database_url_for_tests(), "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
               "MEDIA_ROOT": str(settings.MEDIA_ROOT), **env_extra}
        log = open(tmp_path / f"worker-{len(started)}.log", "w")  # noqa: SIM115 - closed with the process
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "gallery", "worker", "--queues", settings.WORKER_QUEUES,
             "--concurrency", "1", "--loglevel", "INFO", "--without-heartbeat", "--without-gossip",
             "--without-mingle"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        worker.log_file = log
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        worker.log_file.close()
    broker_queues_purge()


def uploaded_without_analysis(make_user, count: int, size=(320, 240)) -> list:
    """Photos stored by the upload service whose own analysis messages are then dropped from the
    broker (no worker runs yet), so the re-index is the only thing that can analyse them."""
    owner = make_user()
    images = [gallery_services.image_create(owner=owner, data=photo_bytes(500 + seed, size=size),
                                            filename=f"r{seed}.jpg") for seed in range(count)]
    broker_queues_purge()
    return images


def test_reindex_command_runs_through_the_sweep_on_a_real_worker(workers, make_user):
    images = uploaded_without_analysis(make_user, 4)
    workers()
    out, err = StringIO(), StringIO()
    call_command("reindex", "--missing", "--wait", "--poll", "0.5", "--timeout", str(WORKER_START_TIMEOUT_S + 60),
                 stdout=out, stderr=err)
    assert f"{configured_model_version()}: 4 done, 0 failed, 0 unfinished of 4 photos" in out.getvalue()
    assert "photo/s" in err.getvalue() or "4/4" in err.getvalue(), "the progress bar was drawn"
    done = ImageAnalysis.objects.filter(model_version=configured_model_version(), status=AnalysisStatus.DONE)
    assert done.count() == 4
    assert ImageEmbedding.objects.filter(model_version=configured_model_version()).count() == len(images)
    assert selectors.embedding_version_serving() == configured_model_version(), "a fresh install activates by itself"
    assert selectors.version_built_by_workers() == configured_model_version(), "the worker's sweep recorded its version"


def test_killed_worker_mid_reindex_is_finished_by_a_new_one_without_duplicates(workers, make_user, settings):
    count = 12
    # Big photos take a moment each, so the worker can be caught in the middle.
    images = uploaded_without_analysis(make_user, count, size=(2000, 1500))
    first = workers()
    call_command("reindex", "--all", stdout=StringIO(), stderr=StringIO())

    def some_done():
        return ImageAnalysis.objects.filter(status=AnalysisStatus.DONE).count() >= 2
    wait_for(some_done, timeout=WORKER_START_TIMEOUT_S, interval=0.05, message="the first worker's first photos")
    os.killpg(first.pid, signal.SIGKILL)  # the worker and its child, no chance to clean up
    first.wait()
    done_at_kill = ImageAnalysis.objects.filter(status=AnalysisStatus.DONE).count()
    assert done_at_kill < count, "the worker finished before it could be killed; the test proves nothing"
    # The photo the dead worker was in the middle of: its message died with it (unacknowledged),
    # so only the sweep's stuck-job path can finish it.
    running_at_kill = set(ImageAnalysis.objects.filter(status=AnalysisStatus.RUNNING).values_list("pk", flat=True))

    # The new worker treats a job as stuck after 2 s; the sweep re-queues what the dead one held.
    settings.ANALYSIS_STUCK_SECONDS = 2
    workers(ANALYSIS_STUCK_SECONDS="2")

    def all_done():
        services.analysis_sweep(version=configured_model_version())
        failed = list(ImageAnalysis.objects.filter(status=AnalysisStatus.FAILED).values_list("error", flat=True))
        assert not failed, failed
        return ImageAnalysis.objects.filter(status=AnalysisStatus.DONE).count() == count
    wait_for(all_done, timeout=WORKER_START_TIMEOUT_S, interval=2.5, message="the new worker to finish the re-index")

    if running_at_kill:
        assert set(ImageAnalysis.objects.filter(pk__in=running_at_kill).values_list("attempts", flat=True)) == {2}
    per_photo = ImageAnalysis.objects.values("image_id").annotate(n=Count("id"))
    assert sorted(row["n"] for row in per_photo) == [1] * count
    assert ImageEmbedding.objects.values("image_id").annotate(n=Count("id")).filter(n__gt=1).count() == 0
    assert ImageEmbedding.objects.count() == count == len(images)
    assert selectors.version_coverage(name=configured_model_version()).complete
