"""Ingest benchmark: photos per second, upload-to-done seconds and where each analysis spends its
time, for a grid of worker processes (celery -c) x TensorFlow threads per process (TF_NUM_THREADS).

    .venv/bin/python bench/ingest.py [--photos N] [--processes 1 2] [--threads 1 2] [--folder DIR]
    .venv/bin/python bench/ingest.py --photos 30 --processes 2 --threads 1 --before ../before
        # ../before: `git worktree add ../before <older commit>`; timed back to back with this tree

Runs against its own embedded PostgreSQL and Redis under var/bench (or DATABASE_URL /
CELERY_BROKER_URL if set). For each configuration it starts one real Celery worker with that
many processes, waits until every process has loaded the models (warm-up photos), uploads the
photos at once through gallery.services and waits for every analysis. Per configuration: photos
per second, per core, the medians of every stage the analyses stored (wall and CPU ms: read,
decode, resize, saliency, crop, embed, map encode, renditions, storage, database; an older
version stores fewer), and ``model_share``: saliency + embedding over the whole analysis.

With ``--before DIR`` each configuration is measured twice, the worker running DIR's code first
and then this tree's, on the same database, broker and machine state; the line then holds both
and their ratios. Prints one JSON line; not a test: it never fails on a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from _harness import ROOT, celery_worker, django_ready, wait_until

MODEL_STAGES = ("saliency_ms", "embed_ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=40, help="photos per configuration")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="worker processes (celery -c)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="TensorFlow threads per process")
    parser.add_argument("--folder", type=Path, help="read photos from here instead of generating them")
    parser.add_argument("--before", type=Path, help="a worktree of an older commit, timed before this tree")
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
    codes = {"before": args.before.resolve(), "after": ROOT} if args.before else {"this": ROOT}
    cores = len(os.sched_getaffinity(0))

    configs = []
    for processes in args.processes:
        for threads in args.threads:
            config = {"processes": processes, "tf_threads": threads}
            for label, code in codes.items():
                owner_model.objects.filter(username="bench").delete()
                owner = owner_model.objects.create_user("bench")
                try:
                    config[label] = measure(owner, photos, processes=processes, threads=threads,
                                            warm_count=warm_count, code=code, cores=cores)
                finally:
                    owner_model.objects.filter(username="bench").delete()
                print(json.dumps({label: config[label]}), file=sys.stderr, flush=True)
            if args.before:
                config["after_over_before"] = ratios(config["before"], config["after"])
            configs.append(config)
    last = "after" if args.before else "this"
    fastest = max(configs, key=lambda c: c[last]["photos_per_second"])
    print(json.dumps({
        "benchmark": "ingest",
        "source": str(args.folder) if args.folder else "generated 1024x768 JPEG",
        "before": str(args.before) if args.before else None,
        "cores": cores,
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        "configs": configs,
        "fastest": {"processes": fastest["processes"], "tf_threads": fastest["tf_threads"]},
        "photos_per_second_per_core": fastest[last]["photos_per_second_per_core"],
        "photos_per_worker_cpu_second": fastest[last]["photos_per_worker_cpu_second"],
        "model_share": fastest[last]["model_share"],
        "model_share_cpu": fastest[last]["model_share_cpu"],
        # What a worker started without -c uses here ("auto": one process per core).
        "default": {"processes": settings.CELERY_WORKER_CONCURRENCY, "processes_here": cores
                    if settings.CELERY_WORKER_CONCURRENCY == "auto" else int(settings.CELERY_WORKER_CONCURRENCY),
                    "tf_threads": settings.TF_NUM_THREADS},
    }))


def measure(owner, photos: list[bytes], *, processes: int, threads: int, warm_count: int, code: Path,
            cores: int) -> dict:
    """One worker with this many processes and TensorFlow threads each, through a burst of photos."""
    from gallery.models import AnalysisStatus
    from gallery.services import image_create
    from inference.models import ImageAnalysis

    with celery_worker(processes=processes, tf_threads=threads, code=code) as worker:
        # Warm-up photos: model loading is start-up cost, not ingest cost. Each process loads its
        # models when it starts, so one photo per process is enough.
        warm = [image_create(owner=owner, data=data, filename=f"warm-{i}.jpg")
                for i, data in enumerate(photos[:warm_count])]
        wait_until(lambda: ImageAnalysis.objects.filter(image__in=warm, status=AnalysisStatus.DONE).count()
                   == len(warm), 600)

        load_before = os.getloadavg()[0]
        cpu_before = process_tree_cpu_s(worker.pid)
        start = time.time()
        images = [image_create(owner=owner, data=data, filename=f"bench-{i}.jpg")
                  for i, data in enumerate(photos[warm_count:])]
        ids = [image.id for image in images]
        wait_until(lambda: ImageAnalysis.objects.filter(image_id__in=ids, status__in=["done", "failed"]).count()
                   == len(ids), 900)
        worker_cpu_s = process_tree_cpu_s(worker.pid) - cpu_before
        analyses = list(ImageAnalysis.objects.filter(image_id__in=ids).select_related("image"))
        latencies = sorted((a.finished_at - a.image.created).total_seconds() for a in analyses)
        wall = max(a.finished_at.timestamp() for a in analyses) - start
        done = [a.timings_ms for a in analyses if a.status == "done"]
        stages = stage_medians(done)
        per_second = len(ids) / wall
        return {
            "photos": len(ids),
            "failed": sum(a.status == "failed" for a in analyses),
            "photos_per_second": round(per_second, 2),
            "photos_per_second_per_core": round(per_second / cores, 2),
            # Photos per second of CPU the worker (all its processes, Celery's own work included)
            # used: what a core would do if nothing else ran on it; steadier than wall time on a
            # shared machine (the database's CPU is not counted).
            "photos_per_worker_cpu_second": round(len(ids) / worker_cpu_s, 2),
            "worker_cpu_ms_per_photo": round(worker_cpu_s * 1000 / len(ids), 1),
            "analysis_median_s": round(statistics.median(t["total_ms"] for t in done) / 1000, 3),
            "model_share": model_share(done),
            "model_share_cpu": model_share(done, cpu=True),
            "stage_median_ms": stages,
            "upload_to_done_median_s": round(statistics.median(latencies), 3),
            "upload_to_done_p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
            "load_average_1m": {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)},
        }


def stage_medians(timings: list[dict]) -> dict:
    """Median ms of every stage the analyses stored (``<stage>_ms`` wall, ``<stage>_cpu_ms`` CPU)."""
    keys = sorted({key for t in timings for key in t})
    return {key.removesuffix("_ms"): round(statistics.median(t[key] for t in timings if key in t), 1)
            for key in keys}


def model_share(timings: list[dict], *, cpu: bool = False) -> float | None:
    """Median over photos of (saliency + embedding) / whole analysis: wall time, or with ``cpu``
    CPU time over the stages' CPU sum (None for a version that stored no CPU times)."""
    if not cpu:
        shares = [sum(t.get(k, 0.0) for k in MODEL_STAGES) / t["total_ms"] for t in timings if t.get("total_ms")]
        return round(statistics.median(shares), 3) if shares else 0.0
    shares = []
    for t in timings:
        stages = {k: v for k, v in t.items() if k.endswith("_cpu_ms")}
        if stages:
            model = sum(stages.get(k.replace("_ms", "_cpu_ms"), 0.0) for k in MODEL_STAGES)
            shares.append(model / sum(stages.values()))
    return round(statistics.median(shares), 3) if shares else None


def process_tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and every live descendant."""
    import psutil

    total = 0.0
    root = psutil.Process(pid)
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.NoSuchProcess:
            pass
    return total


def ratios(before: dict, after: dict) -> dict:
    return {
        "photos_per_second": round(after["photos_per_second"] / before["photos_per_second"], 2),
        "photos_per_worker_cpu_second": round(after["photos_per_worker_cpu_second"]
                                              / before["photos_per_worker_cpu_second"], 2),
        "analysis_median_s": round(after["analysis_median_s"] / before["analysis_median_s"], 2),
        "model_share": round(after["model_share"] / before["model_share"], 2) if before["model_share"] else None,
    }


if __name__ == "__main__":
    main()
