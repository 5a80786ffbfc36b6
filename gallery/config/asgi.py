"""The ASGI entry point. Without DATABASE_URL / CELERY_BROKER_URL it attaches to the embedded
servers first, like manage.py (gallery.platform.embedded)."""

import os

from gallery.platform.embedded import services_attach

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gallery.config.settings.base")
services_attach()

from django.core.asgi import get_asgi_application  # noqa: E402 - after the environment is complete

application = get_asgi_application()
