"""What the benchmarks that run real workers share: a private Django set-up and a worker process.

Importing this module points Django at var/bench before anything touches settings; django_ready()
attaches to (or starts) its own embedded PostgreSQL and Redis there, unless DATABASE_URL /
CELERY_BROKER_URL are set.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GALLERY_VAR_DIR", str(ROOT / "var" / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gallery.config.settings.base")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def django_ready() -> None:
    """Set Django up on the bench database (migrated) with media in a fresh temporary folder."""
    import django

    from gallery.platform.embedded import services_attach

    services_attach()
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    settings.MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="bench-media-"))


@contextlib.contextmanager
def celery_worker(*, processes: int = 1, tf_threads: int | None = None, code: Path = ROOT):
    """One real Celery worker on the app's queues, stopped (its whole process group) on exit.
    ``code``: the checkout whose code the worker runs (another worktree of this repository, to time
    an older version against the same database, broker and media)."""
    from django.conf import settings

    from gallery.config.celery import app

    app.control.purge()
    env = {**os.environ, "DATABASE_URL": settings.DATABASE_URL, "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
           "MEDIA_ROOT": str(settings.MEDIA_ROOT)}
    if tf_threads is not None:
        env["TF_NUM_THREADS"] = str(tf_threads)
    # Throughput is measured at full priority (an older checkout's worker does not lower it, and
    # on a shared machine a niced worker would measure the neighbours' load, not the code).
    env["WORKER_NICENESS"] = os.environ.get("BENCH_WORKER_NICENESS", "0")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "gallery", "worker", "-Q", settings.WORKER_QUEUES, "-c", str(processes),
         "--loglevel", "WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=code, env=env, start_new_session=True, stdout=subprocess.DEVNULL,  # stdout is the JSON line
    )
    try:
        yield worker
    finally:
        process_group_stop(worker, signal.SIGTERM)


def process_group_stop(process: subprocess.Popen, sig: int, timeout: float = 60) -> None:
    """Stop a process started with start_new_session=True and every child it made; kill the
    group if it is not gone after ``timeout`` seconds."""
    os.killpg(process.pid, sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_until(predicate, timeout: float, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout}s")
        time.sleep(interval)


def median_p95(values: list[float]) -> dict:
    values = sorted(values)
    return {"median_s": round(statistics.median(values), 3),
            "p95_s": round(values[int(0.95 * (len(values) - 1))], 3), "n": len(values)}
