"""Re-index benchmark: what a re-index and a version switch cost in the web request, by gallery size.

    .venv/bin/python bench/reindex.py [--photos N]

Writes N photo rows with synthetic vectors for two model versions into its own embedded
PostgreSQL under var/bench (or DATABASE_URL), then times, median of 5 runs: marking every photo
for re-index (what the admin button and `reindex --all` do in the request), one sweep run that
queues a batch of 500 (broker sends excluded: they go out on commit), the model versions page's
selector, the activation (the switch), and one "similar photos" search. No model runs. Prints
one JSON line; never fails on a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GALLERY_VAR_DIR", str(ROOT / "var" / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gallery.config.settings.base")
os.environ.setdefault("LOG_LEVEL", "WARNING")

OLD, NEW = "bench-sal+bench-emb-a", "bench-sal+bench-emb-b"


def timed_ms(func, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=20000)
    args = parser.parse_args()

    import django

    from gallery.platform.embedded import services_attach

    services_attach()  # the bench embedded servers under var/bench, unless DATABASE_URL / CELERY_BROKER_URL are set
    django.setup()
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction

    from gallery.models import AnalysisStatus, Image, Visibility
    from inference import selectors, services
    from inference.models import ImageAnalysis, ImageEmbedding, ModelVersion
    from inference.services import ReindexScope
    from search.selectors import image_similar_list

    call_command("migrate", verbosity=0)
    user_model = get_user_model()
    user_model.objects.filter(username="bench-reindex").delete()  # cascades to its photos and rows
    ModelVersion.objects.filter(name__in=[OLD, NEW]).delete()
    owner = user_model.objects.create_user("bench-reindex")
    rng = np.random.default_rng(0)
    for start in range(0, args.photos, 2000):
        images = Image.objects.bulk_create([
            Image(owner=owner, file=f"images/bench/{n}.jpg", content_type="image/jpeg", sha256=f"{n:064x}",
                  size_bytes=1, width=4, height=3, visibility=Visibility.PUBLIC)
            for n in range(start, min(start + 2000, args.photos))
        ])
        for version in (OLD, NEW):
            vectors = rng.normal(size=(len(images), 128)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            ImageAnalysis.objects.bulk_create([ImageAnalysis(image=i, model_version=version, status="done")
                                               for i in images])
            ImageEmbedding.objects.bulk_create([ImageEmbedding(image=i, model_version=version, vector=v,
                                                               whole_vector=v, crop_vector=v,
                                                               owner_id=i.owner_id, visibility=i.visibility)
                                                for i, v in zip(images, vectors, strict=True)])
    services.model_version_register(name=OLD)
    services.model_version_register(name=NEW)
    query = Image.objects.filter(owner=owner).first()

    def in_rolled_back_transaction(func):
        def run():
            with transaction.atomic():
                func()
                transaction.set_rollback(True)  # also drops the broker sends queued on commit
        return run

    def sweep_ms() -> float:
        times = []
        for _ in range(5):
            with transaction.atomic():
                ImageAnalysis.objects.filter(model_version=NEW).update(status=AnalysisStatus.PENDING, queued_at=None)
                start = time.perf_counter()
                services.analysis_sweep(version=NEW, batch=500)
                times.append((time.perf_counter() - start) * 1000)
                transaction.set_rollback(True)
        return round(statistics.median(times), 1)

    previously_active = ModelVersion.objects.filter(status="active").values_list("name", flat=True).first()
    result = {
        "photos": args.photos,
        "total_photos_in_db": Image.objects.count(),
        "reindex_mark_all_ms": timed_ms(in_rolled_back_transaction(
            lambda: services.reindex_mark(version=NEW, scope=ReindexScope.ALL))),
        "reindex_mark_missing_ms": timed_ms(in_rolled_back_transaction(
            lambda: services.reindex_mark(version=NEW, scope=ReindexScope.MISSING))),
        "sweep_queue_500_ms": sweep_ms(),
        "versions_page_selector_ms": timed_ms(selectors.model_version_list),
        "activate_ms": timed_ms(lambda: (services.model_version_activate(name=NEW),
                                         services.model_version_activate(name=OLD))) / 2,
        "similar_search_ms": timed_ms(lambda: image_similar_list(viewer=owner, image=query), runs=11),
        "postgres": connection.cursor().connection.info.server_version,
    }
    if previously_active:
        services.model_version_activate(name=previously_active, force=True)
    user_model.objects.filter(username="bench-reindex").delete()
    ModelVersion.objects.filter(name__in=[OLD, NEW]).delete()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
