"""The multi-machine install, on one machine: nothing shared but URLs.

PostgreSQL and Redis are the test session's, reached only through DATABASE_URL and
CELERY_BROKER_URL (GALLERY_EMBEDDED_SERVICES=off: no process may start a server of its own);
media live in an S3-compatible server on loopback (moto in server mode). The web process (gunicorn),
a beat and two Celery workers each run in an empty working directory of their own, with their own
var/ (model cache included) and HOME, on the production settings, with the variables
docker/compose.yml gives its services. Photos go in through the API; both workers analyse some
(each names itself on the analysis row); renditions reach their owner from object storage through
the permission-checked views (a signed redirect); and a worker killed with SIGKILL mid-way costs
nothing: every photo ends analysed exactly once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, database_url_for_tests, photo_bytes, wait_for

pytestmark = pytest.mark.e2e

PHOTOS = 40
BUCKET = "gallery-media"
SWEEP_SECONDS = 2
# Long enough that photos waiting their turn in the queue are not re-queued as lost, short enough
# that the killed worker's photo is found within the test.
STUCK_SECONDS = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Machines:
    """Processes that share nothing on disk: each gets an empty directory as cwd, var/ and HOME."""

    def __init__(self, root: Path, env: dict[str, str]):
        self.root, self.env, self.started = root, env, {}

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        home = self.root / name
        (home / "var").mkdir(parents=True)
        env = {**self.env, "HOME": str(home), "GALLERY_VAR_DIR": str(home / "var")}
        log = open(self.root / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(argv, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        process.log_path, process.home, process.log = self.root / f"{name}.log", home, log
        self.started[name] = process
        return process

    def alive(self, name: str) -> bool:
        process = self.started[name]
        if process.poll() is not None:
            raise AssertionError(f"{name} exited with {process.returncode}:\n{self.logs(name)}")
        return True

    def logs(self, *names: str) -> str:
        return "\n".join(f"--- {name}\n{self.started[name].log_path.read_text()[-3000:]}"
                         for name in (names or self.started))

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.started[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)

    def stop_all(self) -> None:
        for name, process in self.started.items():
            if process.poll() is None:
                self.kill(name, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=20)
            self.kill(name)  # a pool child can outlive its parent
            process.wait()
            process.log.close()


def topology_env(*, database_url: str, broker_url: str, s3_endpoint: str) -> dict[str, str]:
    """What docker/compose.yml gives web, worker and beat (docker/env.example), for this machine:
    URLs for the servers, S3 for media, signed redirects for media downloads."""
    keep = {name: os.environ[name] for name in ("PATH", "LANG", "LC_ALL", "TZ") if name in os.environ}
    return {
        **keep,
        "PYTHONPATH": str(ROOT),  # the code, as installed in the images; not the working directory
        "DJANGO_SETTINGS_MODULE": "gallery.config.settings.production",
        "DJANGO_SECRET_KEY": "topology-test-secret-key-that-is-long-enough-for-check-deploy",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_COOKIES": "false",
        "DJANGO_SSL_REDIRECT": "false",
        "GALLERY_EMBEDDED_SERVICES": "off",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "GALLERY_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": BUCKET,
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "topology-test",
        "AWS_SECRET_ACCESS_KEY": "topology-test",
        "SERVE_MEDIA_WITH": "redirect",
        "CELERY_WORKER_CONCURRENCY": "1",
        "TF_NUM_THREADS": "1",
        "ANALYSIS_SWEEP_SECONDS": str(SWEEP_SECONDS),
        "ANALYSIS_STUCK_SECONDS": str(STUCK_SECONDS),
        "API_THROTTLE_UPLOADS": "1000/hour",
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture
def s3_server(tmp_path):
    """moto's S3 in server mode on a free loopback port, with an empty private bucket."""
    import boto3

    port = free_port()
    workdir = tmp_path / "s3"
    workdir.mkdir()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "topology-test", "AWS_SECRET_ACCESS_KEY": "topology-test"}
    log = open(tmp_path / "s3.log", "w")  # noqa: SIM115
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if server.poll() is not None:
            raise AssertionError((tmp_path / "s3.log").read_text())
        try:
            return requests.get(endpoint, timeout=2).status_code < 500
        except requests.ConnectionError:
            return False

    try:
        wait_for(up, timeout=60, interval=0.2, message="the S3 server")
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="topology-test", aws_secret_access_key="topology-test")
        client.create_bucket(Bucket=BUCKET)
        yield endpoint, client
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        log.close()


def bucket_keys(client) -> set[str]:
    keys, token = set(), None
    while True:
        page = client.list_objects_v2(Bucket=BUCKET, **({"ContinuationToken": token} if token else {}))
        keys |= {item["Key"] for item in page.get("Contents", [])}
        if not page.get("IsTruncated"):
            return keys
        token = page["NextContinuationToken"]


def files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"}]


def test_web_and_two_workers_share_only_urls_and_lose_nothing_when_one_is_killed(
        transactional_db, settings, tmp_path, s3_server, make_user):
    from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password

    from gallery.config.celery import app
    from gallery.models import AnalysisStatus
    from inference.models import ImageAnalysis

    endpoint, s3 = s3_server
    app.control.purge()  # messages left by earlier tests are for rows that no longer exist
    machines = Machines(tmp_path / "machines", topology_env(
        database_url=database_url_for_tests(), broker_url=settings.CELERY_BROKER_URL, s3_endpoint=endpoint))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    celery = [sys.executable, "-m", "celery", "-A", "gallery"]
    # The processes of docker/compose.yml: web (gunicorn), beat, and the worker scaled to two.
    machines.start("web", [sys.executable, "-m", "gunicorn", "gallery.config.wsgi", "--bind", f"127.0.0.1:{port}",
                           "--workers", "2", "--threads", "4"])
    machines.start("beat", [*celery, "beat", "--loglevel", "INFO"])
    workers = {}
    for name in ("worker-a", "worker-b"):
        # -n: two workers on one host need two node names (in compose each container's hostname).
        machines.start(name, [*celery, "worker", "-Q", settings.WORKER_QUEUES, "-n", f"{name}@%h",
                              "--loglevel", "INFO", "--without-heartbeat", "--without-gossip", "--without-mingle"])
        workers[name] = f"{name}@{socket.gethostname()}"
    try:
        for name in ("worker-a", "worker-b"):
            wait_for(lambda n=name: machines.alive(n) and " ready." in machines.started[n].log_path.read_text(),
                     timeout=300, interval=0.5, message=f"{name} to be ready")

        def web_up() -> bool:
            machines.alive("web")
            try:
                return requests.get(f"{base}/accounts/login/", timeout=5).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(web_up, timeout=120, interval=0.5, message="the web process to answer")

        owner, stranger = make_user("owner"), make_user("stranger")
        for user in (owner, stranger):
            # The test settings hash with MD5 for speed; the web runs the production hashers.
            user.password = make_password("pw-123456", hasher=PBKDF2PasswordHasher())
            user.save(update_fields=["password"])

        def token_for(user) -> dict[str, str]:
            response = requests.post(f"{base}/api/v1/auth/token/",
                                     json={"username": user.username, "password": "pw-123456"}, timeout=30)
            assert response.status_code == 201, response.text
            return {"Authorization": f"Token {response.json()['token']}"}

        as_owner, as_stranger = token_for(owner), token_for(stranger)
        photo_ids = []

        def upload(count: int) -> None:
            for seed in range(len(photo_ids), len(photo_ids) + count):
                response = requests.post(f"{base}/api/v1/photos/", headers=as_owner, timeout=60,
                                         files={"file": (f"{seed}.jpg", photo_bytes(seed, size=(1000, 750)))})
                assert response.status_code == 201, response.text
                photo_ids.append(response.json()["id"])

        def all_done() -> bool:
            done = ImageAnalysis.objects.filter(image_id__in=photo_ids, status=AnalysisStatus.DONE).count()
            return done == len(photo_ids)

        upload(PHOTOS)

        # Both workers at work, then one machine dies mid-photo: SIGSTOP first, so the kill lands
        # while an analysis of that worker is running for certain.
        victim = "worker-a"

        def done_by(worker: str) -> int:
            return ImageAnalysis.objects.filter(worker=workers[worker], status=AnalysisStatus.DONE).count()

        wait_for(lambda: machines.alive(victim) and done_by("worker-a") >= 2 and done_by("worker-b") >= 2,
                 timeout=300, interval=0.2, message=f"both workers to analyse photos\n{machines.logs()}")
        killed_photo = None
        for _ in range(200):
            machines.kill(victim, signal.SIGSTOP)
            running = ImageAnalysis.objects.filter(worker=workers[victim], status=AnalysisStatus.RUNNING).first()
            if running is not None:
                killed_photo = str(running.image_id)
                break
            machines.kill(victim, signal.SIGCONT)
            if all_done():
                # An analysis takes ~0.1 s: the two workers can finish every photo before the
                # victim is caught in one. More work gives it another photo to die in.
                upload(5)
            wait_for(lambda: ImageAnalysis.objects.filter(worker=workers[victim], status=AnalysisStatus.RUNNING)
                     .exists() or all_done(), timeout=120, interval=0.01, message="the victim to start a photo")
        assert killed_photo is not None, "never caught the worker in the middle of an analysis"
        machines.kill(victim, signal.SIGKILL)
        machines.started[victim].wait()

        def all_done_by_the_survivor() -> bool:
            machines.alive("worker-b")
            return all_done()

        try:
            wait_for(all_done_by_the_survivor, timeout=600, interval=1,
                     message=f"{len(photo_ids)} photos to be analysed")
        except AssertionError as exc:
            states = list(ImageAnalysis.objects.values_list("status", "attempts", "worker", "error"))
            raise AssertionError(f"{exc}; analyses: {states}\n{machines.logs()}") from None

        # Exactly once: one analysis and one vector per photo, every photo done.
        from gallery.models import Image
        from inference.models import ImageEmbedding

        assert ImageAnalysis.objects.filter(image_id__in=photo_ids).count() == len(photo_ids) >= PHOTOS
        assert ImageEmbedding.objects.filter(image_id__in=photo_ids).count() == len(photo_ids)
        assert set(Image.objects.filter(id__in=photo_ids).values_list("analysis_status", flat=True)) == {
            AnalysisStatus.DONE}
        by_worker = set(ImageAnalysis.objects.filter(image_id__in=photo_ids).values_list("worker", flat=True))
        assert by_worker == set(workers.values()), by_worker
        redone = ImageAnalysis.objects.get(image_id=killed_photo)
        assert redone.attempts >= 2 and redone.worker == workers["worker-b"] and redone.error == ""

        # Every file is in the bucket, none on any machine's disk.
        keys = bucket_keys(s3)
        for image in Image.objects.filter(id__in=photo_ids):
            for field in (image.file, image.display, image.thumbnail_square, image.thumbnail_wide):
                assert field.name in keys, field.name
        # The saliency map of each photo: heat maps are drawn from it.
        assert sum(key.endswith("saliency.png") for key in keys) >= len(photo_ids)
        for name, process in machines.started.items():
            assert files_under(process.home) == [], name

        # Renditions reach their owner from object storage: the view checks, then redirects to a
        # signed URL the S3 server answers; the overlay is drawn by the web from the stored map.
        for photo_id in photo_ids[:5]:
            urls = requests.get(f"{base}/api/v1/photos/{photo_id}/", headers=as_owner, timeout=30).json()["urls"]
            for name in ("display", "thumbnail_square", "thumbnail_wide", "original"):
                answer = requests.get(urls[name], headers=as_owner, allow_redirects=False, timeout=30)
                assert answer.status_code == 302 and answer.headers["Location"].startswith(endpoint), name
                assert answer.headers["Cache-Control"] == "private, no-store"
                stored = requests.get(answer.headers["Location"], timeout=30)
                assert stored.status_code == 200 and stored.content[:3] == b"\xff\xd8\xff", name
                assert requests.get(urls[name], headers=as_stranger, allow_redirects=False,
                                    timeout=30).status_code == 404
            overlay = requests.get(urls["overlay"], headers=as_owner, timeout=30)
            assert overlay.status_code == 200 and overlay.content[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        machines.stop_all()
