"""Real processes for the fault tests: Celery workers (with beat) on the test database, broker and
media, started and killed at will; and the checks every fault test ends with."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, database_url_for_tests, wait_for

# The sweep runs every SWEEP_SECONDS and takes work untouched for STUCK_SECONDS to be lost: short
# here so recovery happens within a test, the same code path as production's minutes.
SWEEP_SECONDS = 2
STUCK_SECONDS = 4


class Workers:
    def __init__(self, settings, tmp_path: Path):
        self.settings, self.tmp_path, self.started = settings, tmp_path, []

    def start(self, *, beat: bool = True, include: tuple[str, ...] = (), env: dict | None = None) -> subprocess.Popen:
        """A worker; ``include`` names extra modules it imports (test-only fault injection such as
        tests.faults.poison), ``env`` adds environment variables (settings)."""
        n = len(self.started)
        extra_env = env or {}
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "gallery.config.settings.test",
            "DATABASE_URL": database_url_for_tests(),
            "CELERY_BROKER_URL": self.settings.CELERY_BROKER_URL,
            "MEDIA_ROOT": str(self.settings.MEDIA_ROOT),
            "ANALYSIS_SWEEP_SECONDS": str(SWEEP_SECONDS),
            "ANALYSIS_STUCK_SECONDS": str(STUCK_SECONDS),
            **extra_env,
        }
        log_path = self.tmp_path / f"worker{n}.log"
        command = [sys.executable, "-m", "celery", "-A", "gallery", "worker", "--queues",
                   self.settings.WORKER_QUEUES, "--concurrency", "1", "--loglevel", "INFO",
                   "--without-heartbeat", "--without-gossip", "--without-mingle"]
        if beat:
            command += ["--beat", "--schedule", str(self.tmp_path / f"beat{n}")]
        for module in include:
            command += ["--include", module]
        with open(log_path, "w") as log:
            worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        worker.log_path = log_path
        self.started.append(worker)
        return worker

    def wait_ready(self, worker: subprocess.Popen, timeout: float = 240) -> None:
        # "ready." is logged once the pool child has loaded the models (worker_process_init).
        wait_for(lambda: self.died(worker) or " ready." in worker.log_path.read_text(),
                 timeout=timeout, interval=0.5, message="the worker to be ready")

    @staticmethod
    def died(worker) -> bool:
        """False while the worker runs; an error with its log once it has exited on its own."""
        if worker.poll() is not None:
            raise AssertionError(f"worker exited with {worker.returncode}:\n{worker.log_path.read_text()[-4000:]}")
        return False

    def stop_all(self) -> None:
        for worker in self.started:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.wait(timeout=20)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)  # a pool child can outlive its parent
            worker.wait()


@pytest.fixture
def workers(transactional_db, settings, tmp_path):
    from gallery.config.celery import app

    app.control.purge()  # messages left by earlier tests are for rows that no longer exist
    started = Workers(settings, tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


def logs(workers: Workers) -> str:
    return "\n".join(f"--- {w.log_path.name}\n{w.log_path.read_text()[-3000:]}" for w in workers.started)


def assert_each_analysed_exactly_once(image_ids, workers: Workers, timeout: float = 300) -> None:
    """Every photo ends done, with exactly one analysis and one embedding of the active version."""
    from gallery.models import AnalysisStatus, Image
    from inference.configuration import configured_model_version
    from inference.models import ImageAnalysis, ImageEmbedding

    ids = {str(i) for i in image_ids}

    def all_done() -> bool:
        if workers.started and all(w.poll() is not None for w in workers.started):
            raise AssertionError(f"every worker has exited\n{logs(workers)}")
        done = ImageAnalysis.objects.filter(image_id__in=ids, model_version=configured_model_version(),
                                            status=AnalysisStatus.DONE).count()
        return done == len(ids)

    try:
        wait_for(all_done, timeout=timeout, interval=1, message=f"{len(ids)} photos to be analysed")
    except AssertionError as exc:
        states = list(ImageAnalysis.objects.filter(image_id__in=ids).values_list("status", "attempts", "error"))
        raise AssertionError(f"{exc}; analyses: {states}\n{logs(workers)}") from None
    assert Image.objects.filter(id__in=ids).count() == len(ids), "a photo was lost"
    assert ImageAnalysis.objects.filter(image_id__in=ids, model_version=configured_model_version()).count() == len(ids)
    assert ImageEmbedding.objects.filter(image_id__in=ids, model_version=configured_model_version()).count() == len(ids)
    assert set(Image.objects.filter(id__in=ids).values_list("analysis_status", flat=True)) == {AnalysisStatus.DONE}
