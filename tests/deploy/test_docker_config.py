"""The production stack stays consistent with the code: no Docker engine is needed to check that
every variable, module, command, queue and build stage that docker/ names exists here."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands
from django.urls import Resolver404, resolve

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
SETTINGS_DIR = ROOT / "gallery" / "config" / "settings"
# Read by the images or libraries themselves, not by our settings.
EXTERNAL_VARIABLES = {
    "POSTGRES_PASSWORD",  # the pgvector image's, and compose builds DATABASE_URL from it
    "WEB_PORT",  # compose's published port
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",  # boto3's credential chain
    "DJANGO_SETTINGS_MODULE", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED",
}
APP_SERVICES = ("migrate", "web", "worker", "beat")


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yml").read_text())  # resolves the << merge keys


def dockerfile_stages() -> dict[str, str]:
    """Build stage name -> its text."""
    text = (DOCKER / "Dockerfile").read_text()
    parts = re.split(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", text, flags=re.MULTILINE | re.IGNORECASE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def settings_variables() -> set[str]:
    """Every environment variable the settings modules read, and the data directory the embedded
    servers and the settings share (read in gallery.platform.embedded)."""
    pattern = re.compile(r'(?:os\.environ(?:\.get)?\s*[\[(]|env_bool\(|env_list\()\s*"([A-Z][A-Z0-9_]*)"')
    paths = [*SETTINGS_DIR.glob("*.py"), ROOT / "gallery" / "platform" / "embedded.py"]
    return {name for path in paths for name in pattern.findall(path.read_text())}


def example_variables() -> set[str]:
    lines = (DOCKER / "env.example").read_text().splitlines()
    return {m.group(1) for line in lines if (m := re.match(r"#?\s*([A-Z][A-Z0-9_]*)=", line))}


def interpolated(text: str) -> set[str]:
    """${NAME...} references in a compose string (not $$, the escape for a literal $)."""
    return set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", text))


def celery_queues() -> set[str]:
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    return routed | {settings.CELERY_TASK_DEFAULT_QUEUE}


def check_command(argv: list[str]) -> None:
    """The program and everything it names exist in this project."""
    program = argv[0]
    if program == "sh":
        assert argv[1] == "-c"
        check_command(shlex.split(argv[2]))
        return
    if program == "python":
        if argv[1] == "manage.py":
            assert argv[2] in get_commands(), f"no management command {argv[2]!r}"
        else:
            assert argv[1] == "-c"
            compile(argv[2], "<healthcheck>", "exec")
            for url in re.findall(r"http://127\.0\.0\.1:8000(/[^'\"]*)", argv[2]):
                try:
                    resolve(url)
                except Resolver404:
                    pytest.fail(f"health check URL {url} does not resolve")
        return
    if program == "gunicorn":
        module, _, attribute = argv[1].partition(":")
        assert hasattr(__import__(module, fromlist=["_"]), attribute or "application")
        return
    if program == "celery":
        assert argv[1:3] == ["-A", "gallery"], argv
        from celery.app.utils import find_app

        from gallery.config.celery import app

        assert find_app("gallery") is app  # what `celery -A gallery` loads
        subcommand = argv[3]
        assert subcommand in {"worker", "beat", "inspect"}, subcommand
        if "-Q" in argv:
            queues = set(argv[argv.index("-Q") + 1].split(","))
            assert queues <= celery_queues(), queues - celery_queues()
        return
    assert program in {"pg_isready", "redis-cli", "redis-server"}, f"unexpected program {program!r}"


def test_services_and_build_stages_exist():
    services = compose()["services"]
    assert {"db", "redis", *APP_SERVICES} <= set(services)
    stages = dockerfile_stages()
    assert {"web", "worker"} <= set(stages)
    for name in APP_SERVICES:
        assert services[name]["build"]["target"] in stages, name
    # pgvector 0.8 (iterative index scans) on the PostgreSQL the app is tested against.
    assert re.fullmatch(r"pgvector/pgvector:0\.8\.\d+-pg18", services["db"]["image"])
    # The web image leaves TensorFlow out; the worker image has it.
    assert "tensorflow" in stages["web"] and "grep -v" in stages["web"]
    assert "gunicorn" in stages["web"] and "collectstatic" in stages["web"]
    assert "celery" in stages["worker"]


def test_every_command_and_health_check_names_something_that_exists():
    services = compose()["services"]
    for name, service in services.items():
        if "command" in service and name in APP_SERVICES:
            check_command(service["command"])
        test = service.get("healthcheck", {}).get("test")
        if name != "migrate":
            assert test and test[0] == "CMD", f"{name} has no health check"
            check_command([part.replace("$$", "$") for part in test[1:]])
    for stage in dockerfile_stages().values():
        for instruction in re.findall(r'^(?:CMD|HEALTHCHECK .*?CMD)\s+(\[.*\])\s*$', stage, flags=re.MULTILINE):
            check_command(yaml.safe_load(instruction))


def test_every_queue_the_app_routes_to_is_consumed():
    services = compose()["services"]
    consumed = set()
    for service in services.values():
        command = service.get("command") or []
        if command[:4] == ["celery", "-A", "gallery", "worker"]:
            consumed |= set(command[command.index("-Q") + 1].split(","))
    assert celery_queues() <= consumed, celery_queues() - consumed
    assert consumed == set(settings.WORKER_QUEUES.split(","))
    beat = [s for s in services.values() if (s.get("command") or [])[:4] == ["celery", "-A", "gallery", "beat"]]
    assert len(beat) == 1, "exactly one beat per deployment"


def test_variables_named_by_the_stack_exist_and_the_example_lists_every_setting():
    known = settings_variables() | EXTERNAL_VARIABLES
    stack = compose()
    named = set()
    for service_name in APP_SERVICES:
        service = stack["services"][service_name]
        assert service["env_file"] == [".env"]
        named |= set(service["environment"])
        named |= interpolated(str(service))
    dockerfile = (DOCKER / "Dockerfile").read_text()
    named |= set(re.findall(r"\b([A-Z][A-Z0-9_]{2,})=", dockerfile))
    assert named <= known, f"docker/ names variables nothing reads: {sorted(named - known)}"
    example = example_variables()
    assert example <= known, f"env.example lists unknown variables: {sorted(example - known)}"
    missing = settings_variables() - example
    assert not missing, f"docker/env.example misses variables the settings read: {sorted(missing)}"
    # The compose file's own required variables are in the example too.
    assert interpolated((DOCKER / "compose.yml").read_text()) <= example | {"DATABASE_URL", "CELERY_BROKER_URL"}


def production_settings(extra: dict[str, str], code: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "GALLERY_"))}
    env.update({"DJANGO_SETTINGS_MODULE": "gallery.config.settings.production", "DJANGO_SECRET_KEY": "x" * 50,
                "DATABASE_URL": "postgresql://gallery:pw@db:5432/gallery", "CELERY_BROKER_URL": "redis://redis:6379/0",
                **extra})
    return subprocess.run([sys.executable, "-c", f"import django; django.setup(); {code}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_s3_storage_is_chosen_by_the_environment():
    code = ("from django.core.files.storage import storages; s = storages['default']; "
            "print(type(s).__name__, s.bucket_name, s.endpoint_url, s.default_acl); print(s.url('images/a.jpg'))")
    result = production_settings({"GALLERY_STORAGE": "s3", "AWS_STORAGE_BUCKET_NAME": "photos",
                                  "AWS_S3_ENDPOINT_URL": "http://minio:9000", "AWS_ACCESS_KEY_ID": "key",
                                  "AWS_SECRET_ACCESS_KEY": "secret"}, code)
    assert result.returncode == 0, result.stderr
    kind, url = result.stdout.splitlines()
    assert kind == "S3Storage photos http://minio:9000 None"  # private bucket: no ACL
    assert url.startswith("http://minio:9000/photos/images/a.jpg?") and "Signature" in url  # signed, expiring

    default = production_settings({}, "from django.core.files.storage import storages; s = storages['default']; "
                                      "print(type(s).__name__)")
    assert default.stdout.strip() == "FileSystemStorage", default.stderr
    missing_bucket = production_settings({"GALLERY_STORAGE": "s3"}, "pass")
    assert missing_bucket.returncode != 0 and "AWS_STORAGE_BUCKET_NAME" in missing_bucket.stderr
    unknown = production_settings({"GALLERY_STORAGE": "ftp"}, "pass")
    assert unknown.returncode != 0 and "GALLERY_STORAGE" in unknown.stderr


def test_workers_and_views_never_use_local_file_paths():
    """Files are opened through the storage API so any storage (S3 included) works."""
    offenders = []
    for package in ("gallery", "inference", "search"):
        for path in (ROOT / package).rglob("*.py"):
            if "management" in path.parts or "migrations" in path.parts:
                continue  # commands read local folders given on the command line
            text = path.read_text()
            if re.search(r"\.(file|overlay|saliency_map)\.path\b|storage\.path\(", text):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders


def test_build_context_leaves_out_local_data_and_secrets():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {"var/", ".venv", ".git", "docker/.env"} <= ignored


def test_the_stack_runs_what_the_topology_test_proved():
    """tests/deploy/test_topology.py runs web, beat and two workers sharing only URLs: compose runs
    the same programs, every variable that test sets is one the stack knows, and compose turns the
    embedded servers off for every app service as that test does."""
    from tests.deploy.test_topology import topology_env

    proved = topology_env(database_url="postgresql://x@db/gallery", broker_url="redis://redis:6379/0",
                          s3_endpoint="http://s3:9000")
    process_level = {"PATH", "LANG", "LC_ALL", "TZ", "PYTHONPATH"}  # the image sets these its own way
    known = example_variables() | EXTERNAL_VARIABLES
    assert set(proved) - process_level <= known, sorted(set(proved) - process_level - known)
    services = compose()["services"]
    for name in APP_SERVICES:
        assert services[name]["environment"]["GALLERY_EMBEDDED_SERVICES"] == "off", name
    assert services["web"]["command"][:2] == ["gunicorn", "gallery.config.wsgi"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "gallery", "beat"]
    worker = services["worker"]["command"]
    assert worker[:4] == ["celery", "-A", "gallery", "worker"]
    assert worker[worker.index("-Q") + 1] == settings.WORKER_QUEUES
    # Scaled with --scale worker=N: no fixed container or node name, each replica is celery@<its hostname>.
    assert "container_name" not in services["worker"] and "-n" not in worker and "hostname" not in services["worker"]
