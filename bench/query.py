"""Search-by-photo benchmark: seconds from "search" to results, idle and behind a bulk import.

    .venv/bin/python bench/query.py [--queries N] [--backlog N]

Runs against its own embedded PostgreSQL and Redis under var/bench (or DATABASE_URL /
CELERY_BROKER_URL if set), starts one real Celery worker on the same queues as `manage.py
serve`, indexes a few photos, then times searches with an outside photo and with a region:
first with the worker idle, then each right after BACKLOG uploads were queued (the
`interactive` queue is what keeps them from waiting for the whole import). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

from _harness import celery_worker, django_ready, median_p95, wait_until


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=10, help="searches of each kind")
    parser.add_argument("--backlog", type=int, default=20, help="uploads queued ahead of each busy search")
    args = parser.parse_args()

    django_ready()
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from gallery.models import AnalysisStatus, Image
    from gallery.services import image_create
    from search.models import SimilarityQuery
    from search.services import similarity_query_from_photo, similarity_query_from_region
    from tests.conftest import scene_photo

    user_model = get_user_model()
    user_model.objects.filter(username="bench-query").delete()
    owner = user_model.objects.create_user("bench-query")
    seeds = iter(range(10_000, 1_000_000))
    with celery_worker(processes=1):
        gallery = [image_create(owner=owner, data=scene_photo(next(seeds), species=i % 4), filename=f"g{i}.jpg")
                   for i in range(8)]
        wait_until(lambda: Image.objects.filter(owner=owner, analysis_status=AnalysisStatus.DONE).count()
                   == len(gallery),
                   300)

        def timed(make_query) -> float:
            query = make_query()
            start = time.perf_counter()
            finished = [AnalysisStatus.DONE, AnalysisStatus.FAILED]
            wait_until(lambda: SimilarityQuery.objects.filter(pk=query.pk, status__in=finished).exists(), 120)
            elapsed = time.perf_counter() - start
            if SimilarityQuery.objects.get(pk=query.pk).status != AnalysisStatus.DONE:
                raise SystemExit(f"query failed: {SimilarityQuery.objects.get(pk=query.pk).error}")
            return elapsed

        def photo_query():
            return similarity_query_from_photo(owner=owner, data=scene_photo(next(seeds), size=(1024, 768)),
                                               filename="q.jpg")

        def region_query():
            return similarity_query_from_region(owner=owner, image=gallery[0], box=(100, 80, 420, 360))

        idle = {"photo": [timed(photo_query) for _ in range(args.queries)],
                "region": [timed(region_query) for _ in range(args.queries)]}
        busy = []
        for _ in range(max(1, args.queries // 2)):
            for _ in range(args.backlog):
                image_create(owner=owner, data=scene_photo(next(seeds), size=(1024, 768)), filename="bulk.jpg")
            busy.append(timed(photo_query))
            wait_until(lambda: not Image.objects.filter(owner=owner).exclude(
                analysis_status__in=[AnalysisStatus.DONE, AnalysisStatus.FAILED]).exists(), 600)

        print(json.dumps({
            "benchmark": "search_by_photo",
            "worker": f"1 process, queues {settings.WORKER_QUEUES}",
            "outside_photo_1024x768_idle": median_p95(idle["photo"]),
            "region_idle": median_p95(idle["region"]),
            f"outside_photo_behind_{args.backlog}_queued_uploads": median_p95(busy),
        }))
    user_model.objects.filter(username="bench-query").delete()


if __name__ == "__main__":
    main()
