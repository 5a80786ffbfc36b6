"""Switching the embedding model version on a gallery of a few hundred photos while search is
hammered from threads: search answers throughout, the switch happens at one moment, and a
roll-back restores the previous results exactly.

Plumbing: the two versions' vectors are written directly (the real worker path is exercised in
test_reindex_worker.py); the search selector, the photo page and PostgreSQL are real.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test import Client

from gallery.models import AnalysisStatus, Image, Visibility
from inference import selectors, services
from inference.models import ImageAnalysis, ImageEmbedding
from inference.versions import EMBEDDING_DIM
from search.selectors import image_similar_list

pytestmark = pytest.mark.django_db(transaction=True)

PHOTOS = 300
OLD, NEW = "sal-a+emb-a", "sal-a+emb-b"
QUERIES = 8
LIMIT = 24


def unit_vectors(seed: int, count: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, EMBEDDING_DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def version_write(images: list[Image], version: str, vectors: np.ndarray) -> None:
    ImageAnalysis.objects.bulk_create([
        ImageAnalysis(image=image, model_version=version, status=AnalysisStatus.DONE) for image in images
    ])
    ImageEmbedding.objects.bulk_create([
        ImageEmbedding(image=image, model_version=version, vector=v, whole_vector=v, crop_vector=v,
                       owner_id=image.owner_id, visibility=image.visibility)
        for image, v in zip(images, vectors, strict=True)
    ])


def answer(query: Image) -> tuple:
    """What a visitor gets: the ids in order and their similarities."""
    results = image_similar_list(viewer=AnonymousUser(), image=query, limit=LIMIT)
    return tuple((str(r.image.id), round(r.similarity, 6)) for r in results or [])


class Hammer:
    """Threads that search (selector and photo page) until stopped, timing every answer."""

    def __init__(self, queries: list[Image]):
        self.queries = queries
        self.records: list[tuple[float, float, int, tuple]] = []  # (start, end, query index, answer)
        self.pages: list[tuple[int, int, str]] = []  # (query index, status, html)
        self.errors: list[BaseException] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._search, args=(n,)) for n in range(3)]
        self.threads.append(threading.Thread(target=self._pages))

    def _search(self, offset: int) -> None:
        try:
            n = offset
            while not self.stop.is_set():
                index = n % len(self.queries)
                start = time.monotonic()
                result = answer(self.queries[index])
                self.records.append((start, time.monotonic(), index, result))
                n += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)
        finally:
            connection.close()

    def _pages(self) -> None:
        client = Client()
        try:
            n = 0
            while not self.stop.is_set():
                index = n % len(self.queries)
                response = client.get(f"/photos/{self.queries[index].id}/")
                self.pages.append((index, response.status_code, response.content.decode()))
                n += 1
        except BaseException as exc:  # noqa: BLE001
            self.errors.append(exc)
        finally:
            connection.close()

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


def test_switch_and_rollback_under_load(make_user):
    owner = make_user("owner")
    images = Image.objects.bulk_create([
        Image(owner=owner, file=f"images/{n}.jpg", content_type="image/jpeg", sha256=f"{n:064x}", size_bytes=1,
              width=4, height=3, title=f"photo {n}", visibility=Visibility.PUBLIC)
        for n in range(PHOTOS)
    ])
    version_write(images, OLD, unit_vectors(1, PHOTOS))
    assert services.model_version_activate_first(name=OLD)
    queries = images[:QUERIES]
    old_answers = [answer(q) for q in queries]
    assert all(len(a) == LIMIT for a in old_answers)

    with Hammer(queries) as hammer:
        time.sleep(0.5)
        # Build the new version in the background, batch by batch, as workers would.
        new_vectors = unit_vectors(2, PHOTOS)
        for start in range(0, PHOTOS, 50):
            version_write(images[start:start + 50], NEW, new_vectors[start:start + 50])
            time.sleep(0.1)
        services.model_version_register(name=NEW)
        assert selectors.version_coverage(name=NEW).complete
        time.sleep(0.5)
        switch_start = time.monotonic()
        services.model_version_activate(name=NEW)
        switch_end = time.monotonic()
        time.sleep(1.0)
    assert not hammer.errors, hammer.errors

    new_answers = [answer(q) for q in queries]
    assert all(len(a) == LIMIT for a in new_answers)
    for old, new in zip(old_answers, new_answers, strict=True):
        assert [i for i, _ in old] != [i for i, _ in new], "the versions must rank differently for this test"

    # Search answered throughout: every answer is complete and is exactly one version's answer.
    old_times, new_times = [], []
    for start, end, index, result in hammer.records:
        assert result in (old_answers[index], new_answers[index]), "an empty, partial or mixed answer"
        (old_times if result == old_answers[index] else new_times).append((start, end))
    assert len(old_times) > 20 and len(new_times) > 20, (len(old_times), len(new_times))
    # One moment: no request that started after any new answer came back was answered with the
    # old version, every request finished before the switch was old, and every one begun after it new.
    assert max(start for start, _ in old_times) < min(end for _, end in new_times)
    assert all(end > switch_start for _, end in new_times)
    assert all(start < switch_end for start, _ in old_times)

    # The photo page too: never an error, never an empty "similar" list.
    assert hammer.pages and {status for _, status, _ in hammer.pages} == {200}
    for index, _, html in hammer.pages:
        ids_old = all(image_id in html for image_id, _ in old_answers[index])
        ids_new = all(image_id in html for image_id, _ in new_answers[index])
        assert ids_old or ids_new

    # Roll back: instant, and exactly the previous results (ids, order and similarities).
    services.model_version_rollback()
    assert [answer(q) for q in queries] == old_answers
    assert ImageEmbedding.objects.filter(model_version=NEW).count() == PHOTOS, "kept for the next switch"
