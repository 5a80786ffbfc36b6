"""The run command: brings everything up, Ctrl-C stops every process, a restart keeps the data,
and with DATABASE_URL / CELERY_BROKER_URL set no embedded server is started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import psutil
import pytest

from gallery.platform.priority import session_group_niceness
from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.e2e


def child_env(var_dir) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    return {**env, "GALLERY_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "gallery.config.settings.base"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(var_dir, *args: str) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=child_env(var_dir),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_ctrl_c_stops_everything_and_restart_keeps_data(tmp_path):
    # Bound to an address that is not in ALLOWED_HOSTS' defaults (any 127.x is this machine): the
    # site must answer under it all the same, because serve allows the address it binds.
    var_dir, port, host = tmp_path / "var", free_port(), "127.0.0.2"
    launcher = subprocess.Popen([sys.executable, "manage.py", "serve", "--host", host, "--port", str(port)],
                                cwd=ROOT, env=child_env(var_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True, text=True)
    base = f"http://{host}:{port}"
    try:
        def site_up():
            try:
                return urllib.request.urlopen(f"{base}/", timeout=2).status == 200
            except OSError:
                return False
        wait_for(site_up, timeout=120, interval=0.5, message="the site to answer")
        assert_safe_defaults(base)
        # A management command run meanwhile attaches to the running database.
        manage(var_dir, "shell", "-c", "from django.contrib.auth.models import User; User.objects.create_user('kept')")
        started = psutil.Process(launcher.pid).children(recursive=True)
        postgres_pid = int((var_dir / "pg" / "postmaster.pid").read_text().split()[0])
        redis_pid = int((var_dir / "redis" / "redis.pid").read_text())
        assert {"postgres", "redis-server"} <= {psutil.Process(postgres_pid).name(), psutil.Process(redis_pid).name()}
        assert len(started) >= 3  # worker (+ its pool child), gunicorn (+ its workers)
        assert_workers_yield_to_the_web(launcher.pid)
    finally:
        os.killpg(launcher.pid, signal.SIGINT)  # what the terminal sends on Ctrl-C
        output = launcher.communicate(timeout=60)[0]
    assert launcher.returncode == 0, output[-3000:]
    def gone() -> bool:
        return (not any(psutil.pid_exists(p.pid) and psutil.Process(p.pid).status() != psutil.STATUS_ZOMBIE
                        for p in started) and not _alive(postgres_pid) and not _alive(redis_pid))

    wait_for(gone, timeout=20, message="every started process to exit")

    # Started again (here by a command, which starts and then stops the embedded servers itself).
    assert manage(var_dir, "shell", "-c",
                  "from django.contrib.auth.models import User; print(User.objects.filter(username='kept').count())"
                  ).splitlines()[-1] == "1"
    assert not (var_dir / "pg" / "postmaster.pid").exists(), "the command stopped the server it started"


def assert_workers_yield_to_the_web(launcher_pid: int) -> None:
    """Every Celery process (the worker, its pool children) runs at a higher niceness, so a lower
    CPU priority, than every gunicorn process: page requests win the cores from the models."""
    def niceness_of(word: str, *, of_session_group: bool = False) -> list[int]:
        values = []
        for process in psutil.Process(launcher_pid).children(recursive=True):
            try:
                if word in " ".join(process.cmdline()):
                    values.append(session_group_niceness(process.pid) if of_session_group else process.nice())
            except (psutil.NoSuchProcess, FileNotFoundError, ProcessLookupError):
                pass
        return values

    def pool_started() -> bool:  # worker_init lowers the priority before the pool forks
        return len(niceness_of("celery")) >= 2
    wait_for(pool_started, timeout=120, interval=0.5, message="the worker's pool")
    workers, web = niceness_of("celery"), niceness_of("gunicorn")
    assert web and min(workers) > max(web), (workers, web)
    assert min(workers) >= 10  # settings.WORKER_NICENESS's default
    if session_group_niceness() is not None:
        # serve starts each process in a session of its own: with autogroups on, the sessions'
        # groups share the CPU first, so the worker's group must be niced as well.
        workers, web = niceness_of("celery", of_session_group=True), niceness_of("gunicorn", of_session_group=True)
        assert web and workers and min(workers) >= 10 > max(web), (workers, web)


def assert_safe_defaults(base: str) -> None:
    """What `make run` serves with its defaults (DEBUG off): static files all the same, the favicon,
    and the site's own error pages, never Django's debug pages."""
    assert urllib.request.urlopen(f"{base}/static/css/app.css", timeout=10).status == 200
    icon = urllib.request.urlopen(f"{base}/favicon.ico", timeout=10)  # redirected to the static SVG
    assert icon.status == 200 and icon.read().startswith(b"<svg")
    for path, kind in (("/no/such/page/", "text/html"), ("/api/v1/no-such-thing/", "application/json")):
        try:
            urllib.request.urlopen(f"{base}{path}", timeout=10)
            raise AssertionError(f"{path} answered 200")
        except urllib.error.HTTPError as error:
            body = error.read().decode()
            assert error.code == 404 and error.headers["Content-Type"].startswith(kind), (path, error.code)
            assert "DEBUG = True" not in body and "URLconf" not in body, f"{path}: Django's debug page"
            assert ("Page not found" in body) if kind == "text/html" else ('"code": "not_found"' in body), body


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_configured_servers_start_no_embedded_ones(tmp_path):
    env = {**child_env(tmp_path / "var"), "DATABASE_URL": "postgresql://someone@db.invalid:5432/gallery",
           "CELERY_BROKER_URL": "redis://broker.invalid:6379/0"}
    script = ("from django.conf import settings; "
              "print(settings.DATABASES['default']['HOST'], settings.CELERY_BROKER_URL)")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {script}"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["db.invalid", "redis://broker.invalid:6379/0"]
    assert not (tmp_path / "var" / "pg").exists() and not (tmp_path / "var" / "redis").exists()
    assert time.monotonic() - started < 30


def test_with_embedded_servers_off_a_missing_url_is_an_error_not_a_private_server(tmp_path):
    env = {**child_env(tmp_path / "var"), "GALLERY_EMBEDDED_SERVICES": "off",
           "DATABASE_URL": "postgresql://someone@db.invalid:5432/gallery"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0 and "set CELERY_BROKER_URL" in result.stderr, result.stderr
    assert not (tmp_path / "var" / "pg").exists() and not (tmp_path / "var" / "redis").exists()


def test_a_killed_command_does_not_keep_the_servers_forever(tmp_path):
    """A holder killed before its exit handlers ran is forgotten by the next one, which then
    stops the servers when it is the last to leave."""
    var_dir = tmp_path / "var"
    sleep = "import time; print('up', flush=True); time.sleep(120)"
    stuck = subprocess.Popen([sys.executable, "manage.py", "shell", "--no-imports", "-c", sleep],
                             cwd=ROOT, env=child_env(var_dir), stdout=subprocess.PIPE, text=True)
    assert "up" in stuck.stdout.readline()
    postgres_pid = int((var_dir / "pg" / "postmaster.pid").read_text().split()[0])
    redis_pid = int((var_dir / "redis" / "redis.pid").read_text())
    try:
        stuck.kill()
        stuck.wait()
        assert _alive(postgres_pid) and _alive(redis_pid), "nobody stopped them: the holder was killed"

        manage(var_dir, "shell", "-c", "pass")
        wait_for(lambda: not _alive(postgres_pid) and not _alive(redis_pid), timeout=20,
                 message="the last live holder to stop both servers")
    finally:  # never leave servers behind, even when the test fails
        for pid in (postgres_pid, redis_pid):
            if _alive(pid):
                os.kill(pid, signal.SIGTERM)


def test_serve_allows_the_addresses_it_binds():
    from gallery.platform.management.commands.serve import bind_addresses, host_header_form

    assert bind_addresses("192.168.1.20") == ["192.168.1.20"]
    assert bind_addresses("localhost") == [], "a name must be listed in DJANGO_ALLOWED_HOSTS"
    everywhere = bind_addresses("0.0.0.0")
    assert "127.0.0.1" in everywhere and all(":" not in a for a in everywhere)  # this machine's IPv4 addresses
    assert host_header_form("::1") == "[::1]" and host_header_form("10.0.0.5") == "10.0.0.5"
