"""Importing the settings reads the environment and nothing else: no embedded server is started,
nothing is written under var/, whatever the settings module. Servers are started by the entry
points (manage.py, celery -A gallery, WSGI/ASGI, the test session)."""

from __future__ import annotations

import subprocess
import sys

import psutil
import pytest

from tests.conftest import ROOT

SETUP = """
import django
django.setup()
from django.conf import settings
from django.urls import get_resolver
get_resolver().url_patterns  # every view and API module, imported
from gallery.config.celery import app
print(settings.DATABASES["default"]["OPTIONS"]["host"], app.conf.broker_url)
"""


def _servers_on(var_dir) -> list[str]:
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            if process.info["name"] in ("postgres", "redis-server") and str(var_dir) in " ".join(
                    process.info["cmdline"] or []):
                found.append(f"{process.info['name']} {process.pid}")
        except psutil.Error:
            continue
    return found


@pytest.mark.parametrize("module, extra", [
    ("gallery.config.settings.base", {}),
    ("gallery.config.settings.test", {}),
    ("gallery.config.settings.production", {"DJANGO_SECRET_KEY": "x" * 50, "DJANGO_ALLOWED_HOSTS": "example.org"}),
])
def test_django_setup_without_servers_configured_starts_nothing(tmp_path, module, extra):
    var_dir = tmp_path / "var"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GALLERY_VAR_DIR": str(var_dir),
           "DJANGO_SETTINGS_MODULE": module, **extra}  # no DATABASE_URL, no CELERY_BROKER_URL
    result = subprocess.run([sys.executable, "-c", SETUP], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    # The settings name where the embedded servers would be, without starting them.
    host, broker = result.stdout.split()[-2:]
    assert host == str(var_dir / "pg") and broker == f"redis+socket://{var_dir / 'redis' / 'redis.sock'}"
    assert not var_dir.exists(), sorted(str(p) for p in var_dir.rglob("*"))
    assert _servers_on(var_dir) == []


def test_a_command_that_needs_no_server_starts_none(tmp_path):
    var_dir = tmp_path / "var"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GALLERY_VAR_DIR": str(var_dir)}
    result = subprocess.run([sys.executable, "manage.py", "help"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout and "reindex" in result.stdout
    assert not var_dir.exists()
