"""Where `celery -A gallery ...` finds the app (Celery looks for a ``celery`` module in the package)."""

from gallery.config.celery import app

__all__ = ("app",)
