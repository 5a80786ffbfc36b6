"""The WSGI entry point (`gunicorn gallery.config.wsgi`). Without DATABASE_URL / CELERY_BROKER_URL
it attaches to the embedded servers first, like manage.py (gallery.platform.embedded)."""

import gc
import os

from gallery.platform.embedded import services_attach

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gallery.config.settings.base")
services_attach()

from django.core.wsgi import get_wsgi_application  # noqa: E402 - after the environment is complete

application = get_wsgi_application()

# What is loaded by now (Django, every app, their modules and settings) lives as long as the
# process. Frozen out of the garbage collector's generations, it is no longer scanned by the
# collections that every request's allocations trigger (bench/page_cpu.py, README "Under load").
# gunicorn imports this module in each worker after the fork, so nothing is shared or copied.
gc.freeze()
