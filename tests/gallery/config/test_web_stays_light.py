import subprocess
import sys

from tests.conftest import ROOT

# Everything a web process imports: settings, every app (admin included), the URL conf and
# with it every view, API view and template context processor.
WEB_IMPORTS = """
import sys, django
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns
import gallery.config.wsgi, inference.context_processors
print(sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
"""


def test_web_processes_never_import_tensorflow():
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "gallery.config.settings.base",
           "DATABASE_URL": "postgresql://nobody@db.invalid/x", "CELERY_BROKER_URL": "redis://broker.invalid:6379/0"}
    result = subprocess.run([sys.executable, "-c", WEB_IMPORTS], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_web_process_takes_what_it_loaded_out_of_the_garbage_collectors_scans():
    """gunicorn imports the WSGI module in each worker: everything loaded by then is frozen, so
    the collections every request triggers no longer walk Django and the apps (gc.freeze)."""
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "gallery.config.settings.base",
           "DATABASE_URL": "postgresql://nobody@db.invalid/x", "CELERY_BROKER_URL": "redis://broker.invalid:6379/0"}
    code = "import gc, gallery.config.wsgi; print(gc.get_freeze_count())"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) > 10_000  # the settings, the apps, their models and modules (~100,000)
