"""The Django project configuration: settings, URLconfs, the Celery app, WSGI/ASGI entry points.

The Celery app is loaded with the settings (this package is their parent), so every Django
process has it and @shared_task binds to it.
"""

from gallery.config.celery import app as celery_app

__all__ = ("celery_app",)
