"""Ingest benchmark: seconds from upload to "done", and photos per second for one worker.

    .venv/bin/python bench/ingest.py [--photos N] [--folder DIR]

Runs against its own embedded PostgreSQL and Redis under var/bench (or DATABASE_URL /
CELERY_BROKER_URL if set), starts one real Celery worker, uploads through gallery.services,
and prints one JSON line. Not a test: it never fails on a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GALLERY_VAR_DIR", str(ROOT / "var" / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gallery.settings.base")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--folder", type=Path, help="read photos from here instead of generating them")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from gallery.services import image_create
    from inference.models import AnalysisStatus, ImageAnalysis
    from tests.conftest import photo_bytes

    call_command("migrate", verbosity=0)
    settings.MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="bench-media-"))
    owner_model = get_user_model()
    owner_model.objects.filter(username="bench").delete()
    owner = owner_model.objects.create_user("bench")

    if args.folder:
        files = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
        photos = [(p.name, p.read_bytes()) for p in files[: args.photos + 1]]
    else:
        photos = [(f"bench-{i}.jpg", photo_bytes(1000 + i, size=(1024, 768))) for i in range(args.photos + 1)]

    from gallery.celery import app

    app.control.purge()
    env = {**os.environ, "DATABASE_URL": settings.DATABASE_URL, "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
           "MEDIA_ROOT": str(settings.MEDIA_ROOT)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "gallery", "worker", "-Q", "interactive,inference,default", "-c", "1",
         "--loglevel", "WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, start_new_session=True,
    )
    try:
        # Warm-up photo: model loading is start-up cost, not ingest cost.
        warm = image_create(owner=owner, data=photos[0][1], filename=photos[0][0])
        wait_until(lambda: ImageAnalysis.objects.filter(image=warm, status=AnalysisStatus.DONE).exists(), 300)

        start = time.time()
        images = [image_create(owner=owner, data=data, filename=name) for name, data in photos[1:]]
        ids = [image.id for image in images]
        wait_until(lambda: ImageAnalysis.objects.filter(image_id__in=ids, status__in=["done", "failed"]).count()
                   == len(ids), 600)
        analyses = list(ImageAnalysis.objects.filter(image_id__in=ids).select_related("image"))
        latencies = sorted((a.finished_at - a.image.created).total_seconds() for a in analyses)
        wall = max(a.finished_at.timestamp() for a in analyses) - start
        work = [a.timings_ms["total_ms"] / 1000 for a in analyses if a.status == "done"]
        print(json.dumps({
            "benchmark": "ingest",
            "photos": len(ids),
            "failed": sum(a.status == "failed" for a in analyses),
            "source": str(args.folder) if args.folder else "generated 1024x768 JPEG",
            "upload_to_done_median_s": round(statistics.median(latencies), 3),
            "upload_to_done_p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
            "analysis_median_s": round(statistics.median(work), 3),
            "photos_per_second_one_worker": round(len(ids) / wall, 2),
        }))
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        owner_model.objects.filter(username="bench").delete()


def wait_until(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout}s")
        time.sleep(0.1)


if __name__ == "__main__":
    main()
