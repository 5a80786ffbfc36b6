"""Web CPU per page: what one request of each page the realistic load run asks for costs the web
process, in CPU time (not wall time, so a loaded machine moves it little), and how many queries.

    .venv/bin/python bench/page_cpu.py [--library 200] [--requests 200] [--before DIR] [--profile KIND] [--churn]

Seeds a library of public photos with finished analyses and embeddings (no models: made-up
vectors in clusters, so every photo has neighbours) in the bench database (var/bench), then
drives the pages of ``bench/load.py --realistic`` (load.PAGE_MIX: the public gallery, the
viewer's own photos, a photo page with its similar photos, the next page of similar photos)
through Django's whole request path (middleware, session, auth, views, templates, the real
PostgreSQL and Redis cache) in-process, as one signed-in person who owns no photos, as the
load run's people. Each kind is warmed first (the cache holds its fragments, as in a steady
load run), then timed --requests times with time.process_time over random photos.

With ``--before DIR`` (``git worktree add DIR <older commit>``) a child process measures DIR's
code and another this tree's, alternating rounds, against the same database and photos, so
the two are compared back to back. ``--profile KIND`` prints a cProfile of that kind instead.
``--churn`` changes one of the 48 newest photos' rows before each timed request (an import's
status changes, at their worst): the cached tiles of that photo are rendered again.
Prints one JSON line: per kind the median and mean CPU ms and the queries, the mix's mean CPU
ms per page (weighted as load.PAGE_MIX), and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROUNDS = 4


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--library", type=int, default=200, help="public photos in the gallery")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page kind and code tree")
    parser.add_argument("--before", type=Path, help="a worktree of an older commit, measured against this one")
    parser.add_argument("--profile", help="print a cProfile of this page kind instead (e.g. photo_page)")
    parser.add_argument("--churn", action="store_true",
                        help="before each timed request, change one of the newest photos' rows, as an import does")
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)  # a child: measure this tree's code
    parser.add_argument("--ids", help=argparse.SUPPRESS)
    parser.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.code:
        _child(args)
        return

    from _harness import django_ready

    django_ready()
    load_start = os.getloadavg()
    photo_ids = _library_seed(args.library)
    codes = {"before": args.before.resolve(), "after": BENCH.parent} if args.before else {"this": BENCH.parent}
    per_round = max(1, args.requests // ROUNDS)
    samples: dict[str, dict] = {name: {} for name in codes}
    for round_ in range(1 if args.profile else ROUNDS):
        for name, code in codes.items():
            result = _measure_in(code, photo_ids, per_round, args.profile, warm=round_ == 0, churn=args.churn)
            for kind, values in result.items():
                entry = samples[name].setdefault(kind, {"cpu_ms": [], "queries": values["queries"]})
                entry["cpu_ms"] += values["cpu_ms"]
    if args.profile:
        return
    report = {name: _summary(kinds) for name, kinds in samples.items()}
    if args.before:
        before, after = report["before"], report["after"]
        report["after_over_before"] = {
            kind: round(after["kinds"][kind]["median_cpu_ms"] / before["kinds"][kind]["median_cpu_ms"], 2)
            for kind in after["kinds"]
        } | {"mix": round(after["mix_cpu_ms"] / before["mix_cpu_ms"], 2)}
    print(json.dumps({"library": len(photo_ids), "requests_per_kind": per_round * ROUNDS, "churn": args.churn,
                      "before": str(args.before) if args.before else None, **report,
                      "load_average_1m": {"start": round(load_start[0], 2), "end": round(os.getloadavg()[0], 2)},
                      "cpus": os.cpu_count()}))


def _summary(kinds: dict) -> dict:
    from load import PAGE_MIX

    out = {kind: {"median_cpu_ms": round(statistics.median(v["cpu_ms"]), 2),
                  "mean_cpu_ms": round(statistics.fmean(v["cpu_ms"]), 2), "queries": v["queries"]}
           for kind, v in kinds.items()}
    weights = sum(PAGE_MIX.values())
    mix = sum(out[kind]["mean_cpu_ms"] * weight for kind, weight in PAGE_MIX.items()) / weights
    return {"kinds": out, "mix_cpu_ms": round(mix, 2)}


def _measure_in(code: Path, photo_ids: list[str], requests: int, profile: str | None, *, warm: bool,
                churn: bool = False) -> dict:
    """Run a child process on ``code``'s Django (its settings, middleware, views, templates)."""
    from django.conf import settings

    env = {**os.environ, "DATABASE_URL": settings.DATABASE_URL, "CELERY_BROKER_URL": settings.CELERY_BROKER_URL}
    command = [sys.executable, str(BENCH / "page_cpu.py"), "--code", str(code), "--requests", str(requests),
               "--ids", ",".join(photo_ids)]
    if profile:
        command += ["--profile", profile]
    if warm:
        command += ["--warm"]
    if churn:
        command += ["--churn"]
    done = subprocess.run(command, cwd=code, env=env, capture_output=not profile, text=True)
    if done.returncode:
        raise SystemExit(f"measuring {code} failed:\n{done.stderr}")
    return {} if profile else json.loads(done.stdout.strip().splitlines()[-1])


def _library_seed(count: int) -> list[str]:
    """``count`` public photos of one owner, analysed (a stored map, a crop) and embedded, made
    once and kept in the bench database; the made-up vectors fall in 20 clusters."""
    import numpy as np
    from django.contrib.auth import get_user_model

    from gallery import services
    from gallery.models import AnalysisStatus, Image, Visibility
    from inference.configuration import configured_model_version
    from inference.models import ImageAnalysis, ImageEmbedding
    from inference.versions import EMBEDDING_DIM
    from tests.conftest import photo_bytes

    owner, _ = get_user_model().objects.get_or_create(username="page-cpu-library")
    have = list(Image.objects.filter(owner=owner).order_by("created").values_list("id", flat=True))
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(20, EMBEDDING_DIM))
    version = configured_model_version()
    for i in range(len(have), count):
        image = services.image_create(owner=owner, data=photo_bytes(50_000 + i, size=(640, 480)),
                                      filename=f"library-{i}.jpg", visibility=Visibility.PUBLIC, title=f"Photo {i}")
        vector = centres[i % 20] + 0.3 * rng.normal(size=EMBEDDING_DIM)
        vector = (vector / np.linalg.norm(vector)).astype(np.float32)
        ImageAnalysis.objects.update_or_create(
            image=image, model_version=version,
            defaults={"status": AnalysisStatus.DONE, "saliency_map": f"analysis/bench/{image.id.hex}/map.png",
                      "crop_left": 100, "crop_top": 80, "crop_right": 420, "crop_bottom": 360})
        ImageEmbedding.objects.update_or_create(
            image=image, model_version=version,
            defaults={"vector": vector, "whole_vector": vector, "crop_vector": vector, "owner_id": owner.id,
                      "visibility": Visibility.PUBLIC})
        Image.objects.filter(pk=image.pk).update(analysis_status=AnalysisStatus.DONE)
        have.append(image.id)
    return [str(i) for i in have[:count]]


# --- the child: one code tree ------------------------------------------------------------------

def _child(args) -> None:
    code = args.code.resolve()
    sys.path.insert(0, str(code))
    os.environ.setdefault("GALLERY_VAR_DIR", str(code / "var" / "bench"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gallery.config.settings.base")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_DEBUG"] = "0"
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from load import PAGE_MIX

    import gallery.config.wsgi  # noqa: F401 - what gunicorn imports in each worker, whatever it sets up

    photo_ids = args.ids.split(",")
    _library_version_ensure(photo_ids)
    viewer, _ = get_user_model().objects.get_or_create(username="page-cpu-viewer")
    client = Client()
    client.force_login(viewer)

    def url(kind: str, photo: str) -> str:  # the URLs of load._browse
        return {"gallery_page": "/", "my_photos": "/mine/", "photo_page": f"/photos/{photo}/",
                "similar_more": f"/photos/{photo}/similar?offset=12"}[kind]

    def get(path: str) -> bytes:
        response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"{path}: HTTP {response.status_code}")
        return b"".join(response)

    rng = random.Random(11)
    for kind in PAGE_MIX:  # warm: every photo's fragments in the cache (once per tree), connections open
        for photo in photo_ids if args.warm else photo_ids[:3]:
            page = get(url(kind, photo))
            if kind in ("photo_page", "similar_more") and b"similar-tile" not in page:
                raise SystemExit(f"{url(kind, photo)} shows no similar photos: nothing like a real page is measured")
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile(time.process_time)  # CPU, not waits on the database
        profiler.enable()
        for _ in range(args.requests):
            get(url(args.profile, rng.choice(photo_ids)))
        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats(os.environ.get("PROFILE_SORT", "cumulative"))  # or tottime: own time
        stats.print_stats(os.environ.get("PROFILE_FILTER", ""), 90)
        return
    result = {}
    for kind in PAGE_MIX:
        with CaptureQueriesContext(connection) as queries:
            get(url(kind, rng.choice(photo_ids)))
        query_count = len(queries)  # now: later requests clear the connection's log
        cpu_ms = []
        for _ in range(args.requests):
            path = url(kind, rng.choice(photo_ids))
            if args.churn:
                _churn(photo_ids, rng)
            started = time.process_time()
            get(path)
            cpu_ms.append(1000 * (time.process_time() - started))
        result[kind] = {"cpu_ms": cpu_ms, "queries": query_count}
    print(json.dumps(result))


def _churn(photo_ids: list[str], rng: random.Random) -> None:
    """What a bulk import of public photos does to the pages between two views, at its worst:
    one of the newest photos (on the first page of the gallery, and among the similar photos of
    its neighbours) changes its row, as pending, running and done do several times a second.
    (Untimed; the change is a made-up title, so every view sees a row it has not seen.)"""
    from gallery.models import Image

    Image.objects.filter(pk=rng.choice(photo_ids[-48:])).update(title=f"Photo {rng.getrandbits(48):x}")


def _library_version_ensure(photo_ids: list[str]) -> None:
    """Give the library an analysis and embedding of the version this code serves (another tree
    may default to another embedder), copied from the rows seeded: otherwise its photo pages
    would show no similar photos and look cheaper than they are."""
    from inference.models import ImageAnalysis, ImageEmbedding
    from inference.selectors import embedding_version_serving

    version = embedding_version_serving()
    for model in (ImageAnalysis, ImageEmbedding):
        rows = model.objects.filter(image_id__in=photo_ids)
        have = set(rows.filter(model_version=version).values_list("image_id", flat=True))
        for row in rows.exclude(image_id__in=have).order_by("image_id", "-id"):
            if row.image_id in have:
                continue
            have.add(row.image_id)
            row.pk, row.model_version = None, version
            row.save()


if __name__ == "__main__":
    main()
