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
