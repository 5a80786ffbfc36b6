"""Ingest benchmark: photos per second and upload-to-done seconds, for a grid of worker
processes (celery -c) x TensorFlow threads per process (TF_NUM_THREADS).

    .venv/bin/python bench/ingest.py [--photos N] [--processes 1 2] [--threads 1 2] [--folder DIR]

Runs against its own embedded PostgreSQL and Redis under var/bench (or DATABASE_URL /
CELERY_BROKER_URL if set). For each configuration it starts one real Celery worker with that
many processes, waits until every process has loaded the models (warm-up photos), uploads the
photos at once through gallery.services and waits for every analysis. Prints one JSON line:
each configuration, the fastest, and photos per second per core (the figure for sizing a
cluster). Not a test: it never fails on a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from _harness import celery_worker, django_ready, wait_until


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=40, help="photos per configuration")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="worker processes (celery -c)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="TensorFlow threads per process")
    parser.add_argument("--folder", type=Path, help="read photos from here instead of generating them")
    args = parser.parse_args()

    django_ready()
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from tests.conftest import photo_bytes

    owner_model = get_user_model()
    warm_count = max(args.processes)
    if args.folder:
        files = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
        photos = [p.read_bytes() for p in files[: args.photos + warm_count]]
    else:
        photos = [photo_bytes(1000 + i, size=(1024, 768)) for i in range(args.photos + warm_count)]

    configs = []
    for processes in args.processes:
        for threads in args.threads:
            owner_model.objects.filter(username="bench").delete()
            owner = owner_model.objects.create_user("bench")
            try:
                configs.append(measure(owner, photos, processes=processes, threads=threads, warm_count=warm_count))
            finally:
                owner_model.objects.filter(username="bench").delete()
            print(json.dumps(configs[-1]), file=sys.stderr, flush=True)
    fastest = max(configs, key=lambda c: c["photos_per_second"])
    cores = len(os.sched_getaffinity(0))
    print(json.dumps({
        "benchmark": "ingest",
        "source": str(args.folder) if args.folder else "generated 1024x768 JPEG",
        "cores": cores,
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "configs": configs,
        "fastest": {"processes": fastest["processes"], "tf_threads": fastest["tf_threads"]},
        "photos_per_second_per_core": round(fastest["photos_per_second"] / cores, 2),
        # What a worker started without -c uses here ("auto": one process per core).
        "default": {"processes": settings.CELERY_WORKER_CONCURRENCY, "processes_here": cores
                    if settings.CELERY_WORKER_CONCURRENCY == "auto" else int(settings.CELERY_WORKER_CONCURRENCY),
                    "tf_threads": settings.TF_NUM_THREADS},
    }))


def measure(owner, photos: list[bytes], *, processes: int, threads: int, warm_count: int) -> dict:
    """One worker with this many processes and TensorFlow threads each, through a burst of photos."""
    from gallery.models import AnalysisStatus
    from gallery.services import image_create
    from inference.models import ImageAnalysis

    with celery_worker(processes=processes, tf_threads=threads):
        # Warm-up photos: model loading is start-up cost, not ingest cost. Each process loads its
        # models when it starts, so one photo per process is enough.
        warm = [image_create(owner=owner, data=data, filename=f"warm-{i}.jpg")
                for i, data in enumerate(photos[:warm_count])]
        wait_until(lambda: ImageAnalysis.objects.filter(image__in=warm, status=AnalysisStatus.DONE).count()
                   == len(warm), 600)

        start = time.time()
        images = [image_create(owner=owner, data=data, filename=f"bench-{i}.jpg")
                  for i, data in enumerate(photos[warm_count:])]
        ids = [image.id for image in images]
        wait_until(lambda: ImageAnalysis.objects.filter(image_id__in=ids, status__in=["done", "failed"]).count()
                   == len(ids), 900)
        analyses = list(ImageAnalysis.objects.filter(image_id__in=ids).select_related("image"))
        latencies = sorted((a.finished_at - a.image.created).total_seconds() for a in analyses)
        wall = max(a.finished_at.timestamp() for a in analyses) - start
        work = [a.timings_ms["total_ms"] / 1000 for a in analyses if a.status == "done"]
        return {
            "processes": processes,
            "tf_threads": threads,
            "photos": len(ids),
            "failed": sum(a.status == "failed" for a in analyses),
            "photos_per_second": round(len(ids) / wall, 2),
            "analysis_median_s": round(statistics.median(work), 3),
            "upload_to_done_median_s": round(statistics.median(latencies), 3),
            "upload_to_done_p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
        }


if __name__ == "__main__":
    main()
