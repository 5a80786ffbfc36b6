"""Run the whole app: database and broker (embedded unless configured), migrations, a Celery
worker with beat, and the web server. Ctrl-C stops every process this started."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

SHUTDOWN_GRACE_S = 20


class Command(BaseCommand):
    help = "Start the web server and a Celery worker (with beat) against the configured services."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, *args, host: str, port: int, web_workers: int, **options):
        # manage.py has attached to (or started) the embedded servers when no URL was given
        # (gallery.platform.embedded); this process holds them and stops them when it exits.
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        env = {**os.environ, "DATABASE_URL": settings.DATABASE_URL, "CELERY_BROKER_URL": settings.CELERY_BROKER_URL}
        # With DEBUG off, Django answers only to the names in ALLOWED_HOSTS (400 otherwise). The
        # addresses this server is reachable under are safe to add: a DNS-rebinding or Host-header
        # attack needs a name the attacker controls, never this machine's own IP address.
        reachable = bind_addresses(host)
        allowed = list(dict.fromkeys([*settings.ALLOWED_HOSTS, *(host_header_form(a) for a in reachable)]))
        env["DJANGO_ALLOWED_HOSTS"] = ",".join(allowed)
        python = sys.executable
        commands = {
            "worker": [python, "-m", "celery", "-A", "gallery", "worker", "--beat", "--queues", settings.WORKER_QUEUES,
                       "--loglevel", "INFO",  # processes: CELERY_WORKER_CONCURRENCY
                       "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME],
            # Keep-alive well above a client's pause between requests: with gunicorn's 2 s default a
            # client reusing a connection just as the server drops it gets "connection reset" (one
            # request in ~700 under bench/load.py's 50 clients).
            "web": [python, "-m", "gunicorn", "gallery.config.wsgi", "--bind", f"{host}:{port}",
                    "--workers", str(web_workers), "--threads", "4", "--keep-alive", "75", "--access-logfile", "-"],
        }
        # Each child leads its own process group, so shutdown reaches its children (the Celery
        # pool, gunicorn workers) and the terminal's Ctrl-C reaches only this process.
        children = {name: subprocess.Popen(cmd, env=env, start_new_session=True) for name, cmd in commands.items()}
        shown = "127.0.0.1" if is_wildcard(host) else host_header_form(host)
        running = f"Saliency Gallery is running at http://{shown}:{port}/  (Ctrl-C stops it)"
        self.stdout.write(self.style.SUCCESS(running))
        others = [a for a in reachable if not ipaddress.ip_address(a).is_loopback]
        if others:
            urls = ", ".join(f"http://{host_header_form(a)}:{port}/" for a in others)
            self.stdout.write(f"Other devices on your network can open {urls}. A host name (e.g. gallery.lan) "
                              "must be added to DJANGO_ALLOWED_HOSTS.")

        stopping = False

        def request_stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        exit_code = 0
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"{name} exited with status {child.returncode}; stopping everything.")
                    stopping, exit_code = True, 1
            time.sleep(0.5)

        self.stdout.write("Stopping web server and worker…")
        for child in children.values():
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_GRACE_S
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(child, signal.SIGKILL)
                child.wait()
        # Children of a process group can outlive their leader (a pool process mid-task).
        for child in children.values():
            _signal_group(child, signal.SIGKILL)
        self.stdout.write("Stopped; the embedded database and broker stop as this process exits.")
        if exit_code:
            sys.exit(exit_code)


def _signal_group(child: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group has already gone
        os.killpg(child.pid, sig)


def is_wildcard(host: str) -> bool:
    return host in ("", "0.0.0.0", "::", "[::]")


def bind_addresses(host: str) -> list[str]:
    """The IP addresses a server bound to ``host`` answers on: the address itself, or, bound to
    every interface, each address of this machine's interfaces. Names (localhost) are not
    addresses: they are in ALLOWED_HOSTS already or must be added there."""
    if not is_wildcard(host):
        try:
            return [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            return []
    import psutil

    families = (socket.AF_INET, socket.AF_INET6) if host in ("::", "[::]") else (socket.AF_INET,)
    found = []
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family in families:
                try:
                    ip = ipaddress.ip_address(address.address.split("%")[0])  # drop an IPv6 zone
                except ValueError:
                    continue
                if not ip.is_link_local:
                    found.append(str(ip))
    return found


def host_header_form(address: str) -> str:
    """How an address appears in a Host header (and so in ALLOWED_HOSTS): IPv6 in brackets."""
    try:
        return f"[{address.strip('[]')}]" if ipaddress.ip_address(address.strip("[]")).version == 6 else address
    except ValueError:
        return address
