"""Run the whole app: database and broker (embedded unless configured), migrations, a Celery
worker with beat, and the web server. Ctrl-C stops every process this started."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

SHUTDOWN_GRACE_S = 20


class Command(BaseCommand):
    help = "Start the web server and a Celery worker (with beat) against the configured services."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, *args, host: str, port: int, web_workers: int, **options):
        # manage.py has attached to (or started) the embedded servers when no URL was given
        # (gallery.platform.embedded); this process holds them and stops them when it exits.
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        env = {**os.environ, "DATABASE_URL": settings.DATABASE_URL, "CELERY_BROKER_URL": settings.CELERY_BROKER_URL}
        python = sys.executable
        commands = {
            "worker": [python, "-m", "celery", "-A", "gallery", "worker", "--beat", "--queues", settings.WORKER_QUEUES,
                       "--loglevel", "INFO",  # processes: CELERY_WORKER_CONCURRENCY
                       "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME],
            # Keep-alive well above a client's pause between requests: with gunicorn's 2 s default a
            # client reusing a connection just as the server drops it gets "connection reset" (one
            # request in ~700 under bench/load.py's 50 clients).
            "web": [python, "-m", "gunicorn", "gallery.config.wsgi", "--bind", f"{host}:{port}",
                    "--workers", str(web_workers), "--threads", "4", "--keep-alive", "75", "--access-logfile", "-"],
        }
        # Each child leads its own process group, so shutdown reaches its children (the Celery
        # pool, gunicorn workers) and the terminal's Ctrl-C reaches only this process.
        children = {name: subprocess.Popen(cmd, env=env, start_new_session=True) for name, cmd in commands.items()}
        running = f"Saliency Gallery is running at http://{host}:{port}/  (Ctrl-C stops it)"
        self.stdout.write(self.style.SUCCESS(running))

        stopping = False

        def request_stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        exit_code = 0
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"{name} exited with status {child.returncode}; stopping everything.")
                    stopping, exit_code = True, 1
            time.sleep(0.5)

        self.stdout.write("Stopping web server and worker…")
        for child in children.values():
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_GRACE_S
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(child, signal.SIGKILL)
                child.wait()
        # Children of a process group can outlive their leader (a pool process mid-task).
        for child in children.values():
            _signal_group(child, signal.SIGKILL)
        self.stdout.write("Stopped; the embedded database and broker stop as this process exits.")
        if exit_code:
            sys.exit(exit_code)


def _signal_group(child: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group has already gone
        os.killpg(child.pid, sig)
