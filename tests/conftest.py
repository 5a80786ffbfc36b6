"""Shared fixtures. Tests run against the real embedded PostgreSQL (pgvector) and Redis under
var/test, attached to by the test session's entry point (tests/services.py)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SHARED_DATA", ROOT.parent / "shared" / "data"))


def photo_bytes(seed: int = 0, size: tuple[int, int] = (320, 240), fmt: str = "JPEG", **save_kwargs) -> bytes:
    """A synthetic photo: a textured background with a bright object whose place depends on seed."""
    rng = np.random.default_rng(seed)
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    base = rng.integers(40, 120, size=3)
    image = np.empty((height, width, 3), dtype=np.float32)
    for channel in range(3):
        image[..., channel] = base[channel] + 20 * np.sin(xx / (7 + seed % 5) + channel) * np.cos(yy / 11)
    cx, cy = rng.integers(width // 4, 3 * width // 4), rng.integers(height // 4, 3 * height // 4)
    radius = max(4, min(width, height) // 6)
    blob = (xx - cx) ** 2 + (yy - cy) ** 2 < radius**2
    image[blob] = rng.integers(150, 256, size=3)
    buffer = io.BytesIO()
    mode_image = PIL.Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    if fmt == "PNG" and save_kwargs.pop("alpha", False):
        mode_image = mode_image.convert("RGBA")
    mode_image.save(buffer, format=fmt, **save_kwargs)
    return buffer.getvalue()


@pytest.fixture
def make_user(django_user_model):
    counter = iter(range(10_000))

    def make(username: str | None = None):
        return django_user_model.objects.create_user(username=username or f"user{next(counter)}", password="pw-123456")

    return make


@pytest.fixture
def photo(make_user, django_capture_on_commit_callbacks):
    """Upload a generated photo through gallery.services.image_create (nothing is queued)."""
    from gallery import services
    from gallery.models import Visibility

    seeds = iter(range(1000, 1_000_000))

    def create(owner=None, visibility=Visibility.PRIVATE, title="", seed=None):
        with django_capture_on_commit_callbacks(execute=False):
            data = photo_bytes(next(seeds) if seed is None else seed)
            return services.image_create(owner=owner or make_user(), data=data,
                                         filename="p.jpg", visibility=visibility, title=title)
    return create


@pytest.fixture(autouse=True)
def _media_root(request, tmp_path):
    # Pure model tests also run without the Django plugin (-p no:django).
    if request.config.pluginmanager.hasplugin("django"):
        request.getfixturevalue("settings").MEDIA_ROOT = tmp_path / "media"
        from django.core.cache import cache

        cache.clear()  # rate-limit and throttle counters must not leak from one test into the next
        from search.selectors import large_versions_forget

        large_versions_forget()  # a version counted large in one test is empty in the next


def database_url_for_tests() -> str:
    """A URL for the test database pytest-django created, for processes started by tests."""
    from django.db import connection

    params = connection.get_connection_params()
    host = params.get("host") or ""
    return f"postgresql://{params.get('user', 'postgres')}:@/{params['dbname']}?host={host}"


@pytest.fixture
def celery_worker_process(transactional_db, settings):
    """A real Celery worker process (real models) on the test database, broker and media."""
    from gallery.config.celery import app

    app.control.purge()  # drop messages left by earlier tests for rows that no longer exist
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "gallery.config.settings.test",
        "DATABASE_URL": database_url_for_tests(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    log = open(settings.MEDIA_ROOT.parent / "worker.log", "w+")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "gallery", "worker", "--queues", settings.WORKER_QUEUES,
         "--concurrency", "1", "--loglevel", "INFO", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.seek(0)
        worker.log_text = log.read()
        log.close()


def wait_for(predicate, *, timeout: float, interval: float = 0.25, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {message}")


def index_photo(image, vector, *, crop_vector=None):
    """Give a photo a finished analysis and an embedding without running the models: for tests
    of pages and queries (plumbing), never of the models themselves."""
    from gallery.models import AnalysisStatus, Image
    from inference.configuration import configured_model_version
    from inference.models import ImageAnalysis, ImageEmbedding

    vector = np.asarray(vector, dtype=np.float32)
    vector = vector / np.linalg.norm(vector)
    crop = vector if crop_vector is None else np.asarray(crop_vector, dtype=np.float32) / np.linalg.norm(crop_vector)
    ImageAnalysis.objects.update_or_create(image=image, model_version=configured_model_version(),
                                           defaults={"status": AnalysisStatus.DONE})
    ImageEmbedding.objects.update_or_create(image=image, model_version=configured_model_version(),
                                            defaults={"vector": vector, "whole_vector": vector, "crop_vector": crop,
                                                      "owner_id": image.owner_id, "visibility": image.visibility})
    Image.objects.filter(pk=image.pk).update(analysis_status=AnalysisStatus.DONE)
    image.analysis_status = AnalysisStatus.DONE
    return image


def scene_photo(seed: int, size: tuple[int, int] = (640, 480), species: int | None = None) -> bytes:
    """A made-up photo that reads like one: a sky-to-ground gradient with texture and a flower
    (petals around a heart, on a stem) somewhere off-centre. Photos of one ``species`` share the
    flower's colours and petal count, so they are each other's nearest neighbours. Used where
    screenshots end up in the repository (no dataset image may be committed)."""
    from PIL import ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    kind = np.random.default_rng(1000 + (seed if species is None else species))
    width, height = size
    top, bottom = rng.integers(90, 200, size=3), rng.integers(20, 110, size=3)
    ramp = np.linspace(0.0, 1.0, height)[:, None, None]
    pixels = top * (1 - ramp) + bottom * ramp + rng.normal(0, 9, size=(height, width, 3))
    image = PIL.Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2))
    draw = ImageDraw.Draw(image)
    cx, cy = int(rng.uniform(0.3, 0.7) * width), int(rng.uniform(0.3, 0.6) * height)
    radius = int(min(width, height) * rng.uniform(0.16, 0.22))
    draw.line([(cx, cy), (cx + int(rng.integers(-30, 30)), height)], fill=(40, 110, 40), width=max(3, radius // 10))
    petals, colour = int(kind.integers(5, 12)), tuple(int(v) for v in kind.integers(120, 256, size=3))
    for k in range(petals):
        angle = 2 * np.pi * k / petals
        px, py = cx + 0.55 * radius * np.cos(angle), cy + 0.55 * radius * np.sin(angle)
        r = radius * 0.45
        shade = tuple(int(np.clip(c + rng.integers(-25, 25), 0, 255)) for c in colour)
        draw.ellipse([px - r, py - r, px + r, py + r], fill=shade)
    heart = tuple(int(v) for v in kind.integers(60, 200, size=3))
    draw.ellipse([cx - radius * 0.3, cy - radius * 0.3, cx + radius * 0.3, cy + radius * 0.3], fill=heart)
    buffer = io.BytesIO()
    image.filter(ImageFilter.GaussianBlur(0.6)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()
