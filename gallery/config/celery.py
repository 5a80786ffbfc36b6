"""The Celery app (Celery's documented Django layout)."""

import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gallery.config.settings.base")

app = Celery("gallery")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def worker_priority_lower(**kwargs) -> None:
    """Workers run below the web server's CPU priority (settings.WORKER_NICENESS), however they are
    started (`serve`, docker, by hand): set in the worker's main process before its pool forks, so
    every pool process inherits it."""
    from django.conf import settings

    from gallery.platform.priority import process_niceness_raise

    process_niceness_raise(niceness=settings.WORKER_NICENESS)
