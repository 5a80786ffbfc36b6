"""Searches with an outside photo or a region: validation, privacy, the real pipeline, pruning."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from gallery.models import AnalysisStatus, Image
from inference.versions import EMBEDDING_DIM
from search import services
from search.models import SimilarityQuery
from search.selectors import query_similar_page
from tests.conftest import index_photo, photo_bytes

pytestmark = pytest.mark.django_db




def test_outside_photo_search_is_checked_like_an_upload_and_never_joins_the_gallery(
        client, make_user, django_capture_on_commit_callbacks):
    user = make_user()
    client.force_login(user)
    bad = client.post("/search/", {"photo": SimpleUploadedFile("x.jpg", b"<svg onload=alert(1)>", "image/jpeg")})
    assert "not an image we can read" in bad.content.decode()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post("/search/", {"photo": SimpleUploadedFile("x.jpg", photo_bytes(1), "image/jpeg")})
    query = SimilarityQuery.objects.get()
    assert response.url == f"/search/{query.id}/"
    assert len(callbacks) == 1  # queued for the worker once the row is committed
    assert not Image.objects.exists()
    assert client.get(f"/search/{query.id}/status.json").json() == {"status": "pending", "error": ""}


def test_region_must_be_big_enough_and_inside_the_photo(make_user, photo):
    owner = make_user()
    image = photo(owner=owner)  # 320 x 240
    with pytest.raises(services.QueryRejected):
        services.similarity_query_from_region(owner=owner, image=image, box=(10, 10, 20, 20))
    query = services.similarity_query_from_region(owner=owner, image=image, box=(-50, 200, 900, 900))
    assert query.box == (0, 200, 320, 240)


def test_nobody_can_search_a_region_of_a_photo_they_may_not_see(client, make_user, photo):
    private = photo(owner=make_user())
    client.force_login(make_user())
    response = client.post(f"/photos/{private.id}/search-region", {"left": 0, "top": 0, "right": 100, "bottom": 100})
    assert response.status_code == 404
    assert not SimilarityQuery.objects.exists()


def test_a_query_is_seen_only_by_its_maker(client, make_user, photo):
    alice = make_user()
    query = services.similarity_query_from_region(owner=alice, image=photo(owner=alice), box=(0, 0, 100, 100))
    client.force_login(make_user())
    for suffix in ("", "results", "status.json", "photo.jpg"):
        assert client.get(f"/search/{query.id}/{suffix}").status_code == 404


def test_region_results_leave_out_the_source_and_private_photos(make_user, photo):
    alice, bob = make_user(), make_user()
    base = np.ones(EMBEDDING_DIM)
    source = index_photo(photo(owner=bob, visibility="public"), base)
    public = index_photo(photo(owner=bob, visibility="public"), base + 0.1)
    index_photo(photo(owner=bob), base)  # bob's private photo: alice must never get it
    query = services.similarity_query_from_region(owner=alice, image=source, box=(0, 0, 100, 100))
    SimilarityQuery.objects.filter(pk=query.pk).update(
        status=AnalysisStatus.DONE, model_version=source.embeddings.get().model_version,
        vector=base / np.linalg.norm(base), whole_vector=base / np.linalg.norm(base),
        crop_vector=base / np.linalg.norm(base))
    query.refresh_from_db()
    page = query_similar_page(viewer=alice, query=query)
    assert [r.image.id for r in page.results] == [public.id]


def test_the_worker_embeds_a_region_with_the_real_pipeline(make_user, photo):
    owner = make_user()
    image = photo(owner=owner)
    query = services.similarity_query_from_region(owner=owner, image=image, box=(40, 30, 280, 210))
    done = services.similarity_query_analyze(query_id=str(query.id))
    assert done.status == AnalysisStatus.DONE, done.error
    assert done.model_version and np.isclose(np.linalg.norm(done.vector), 1.0, atol=1e-3)
    assert not np.allclose(done.whole_vector, done.crop_vector)


def test_old_queries_and_their_files_are_pruned(make_user, django_capture_on_commit_callbacks, settings):
    owner = make_user()
    with django_capture_on_commit_callbacks(execute=False):
        old = services.similarity_query_from_photo(owner=owner, data=photo_bytes(1), filename="a.jpg")
        fresh = services.similarity_query_from_photo(owner=owner, data=photo_bytes(2), filename="b.jpg")
    too_old = timezone.now() - timedelta(hours=settings.QUERY_KEEP_HOURS + 1)
    SimilarityQuery.objects.filter(pk=old.pk).update(created=too_old)
    storage = old.file.storage
    with django_capture_on_commit_callbacks(execute=True):
        assert services.similarity_queries_prune() == 1
    assert not storage.exists(old.file.name) and storage.exists(fresh.file.name)
    assert list(SimilarityQuery.objects.all()) == [fresh]


def test_a_region_search_follows_its_photo_through_every_door_once_it_becomes_private(make_user, photo):
    """alice searched with a region of bob's public photo; bob then made it private. Every door
    (the search's page, its status, its results, the API; one selector behind them all) now
    answers 404 to alice, exactly as for a search that does not exist. bob's own searches on it stay."""
    from django.test import Client
    from rest_framework.test import APIClient

    from gallery import services as gallery_services

    alice, bob = make_user(), make_user()
    source = photo(owner=bob, visibility="public", title="bobs-beach-4411")
    alices = services.similarity_query_from_region(owner=alice, image=source, box=(0, 0, 100, 100))
    bobs = services.similarity_query_from_region(owner=bob, image=source, box=(0, 0, 100, 100))
    doors = ("/search/{id}/", "/search/{id}/results", "/search/{id}/status.json", "/api/v1/searches/{id}/")

    def answers(user, query) -> list[int]:
        page, api = Client(), APIClient()
        page.force_login(user)
        api.force_authenticate(user)
        return [(api if door.startswith("/api/") else page).get(door.format(id=query.id)).status_code
                for door in doors]

    assert answers(alice, alices) == [200, 200, 200, 200]
    gallery_services.image_update(image=source, visibility="private")
    assert answers(alice, alices) == [404, 404, 404, 404]
    assert answers(bob, bobs) == [200, 200, 200, 200], "the owner still sees their own"
    # The selector every door calls says the same.
    from search.selectors import similarity_query_get

    assert similarity_query_get(viewer=alice, query_id=alices.id) is None
    assert similarity_query_get(viewer=bob, query_id=bobs.id) == bobs


def test_a_search_whose_photo_stopped_the_worker_max_attempts_times_fails_without_starting(make_user, photo, settings):
    owner = make_user()
    query = services.similarity_query_from_region(owner=owner, image=photo(owner=owner), box=(0, 0, 100, 100))
    SimilarityQuery.objects.filter(pk=query.pk).update(status=AnalysisStatus.RUNNING,
                                                       attempts=settings.ANALYSIS_MAX_ATTEMPTS)
    query = services.similarity_query_analyze(query_id=str(query.id))
    assert (query.status, query.attempts) == (AnalysisStatus.FAILED, settings.ANALYSIS_MAX_ATTEMPTS)
    assert query.error == services.query_gave_up_message(settings.ANALYSIS_MAX_ATTEMPTS)
