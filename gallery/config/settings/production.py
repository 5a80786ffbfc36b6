"""Production: the base settings, hardened. Requires real servers, a real secret and the host names.

Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients).
`DJANGO_SETTINGS_MODULE=gallery.config.settings.production manage.py check --deploy` must report no issues
(tests/security/test_hardening.py runs it).
"""

import os

from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "")  # noqa: F405 - no default host in production

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", True)  # noqa: F405
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)  # noqa: F405
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
# Browsers that saw the site once refuse plain HTTP for a year. Start lower (DJANGO_HSTS_SECONDS=300)
# when first moving a domain to HTTPS: a wrong HSTS header cannot be taken back for max-age.
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", 365 * 24 * 3600))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)  # noqa: F405
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)  # noqa: F405 - a header only; listing is a manual submission
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
