"""The entry point of the `celery` command: `celery -A gallery worker|beat|inspect ...` finds the
app here (Celery looks for a ``celery`` module in the package it is given).

Like manage.py, it first attaches to (or starts) the embedded PostgreSQL and Redis for whichever of
DATABASE_URL and CELERY_BROKER_URL is not set (gallery.platform.embedded), so a worker started by
hand on a laptop finds them. In production both are set and nothing is started. Django processes
never import this module: they load the app with their settings (gallery.config).
"""

from gallery.platform.embedded import services_attach

services_attach()

from gallery.config.celery import app  # noqa: E402 - the environment must be complete before settings load

__all__ = ("app",)
