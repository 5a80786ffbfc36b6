"""The test session's entry point for the embedded servers: a pytest plugin (pytest.ini loads it
with ``-p tests.services``), as manage.py is the app's.

Before pytest-django reads the settings, it points GALLERY_VAR_DIR at var/test and attaches to (or
starts) the embedded PostgreSQL and Redis there for whichever of DATABASE_URL / CELERY_BROKER_URL
is not set (gallery.platform.embedded.services_attach). The session then holds them; they stop
when it ends. Worker processes the tests start inherit the variables.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    # A wrapper runs before every plain implementation, pytest-django's (which reads the settings)
    # included. Without the Django plugin (-p no:django: pure model tests) nothing is started.
    if early_config.pluginmanager.hasplugin("django"):
        os.environ.setdefault("GALLERY_VAR_DIR", str(ROOT / "var" / "test"))
        from gallery.platform.embedded import services_attach

        services_attach()
    return (yield)


def pytest_configure(config):
    if config.pluginmanager.hasplugin("django"):
        from django.conf import settings

        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)  # whitenoise warns when it is missing
