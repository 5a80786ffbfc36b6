"""/api/v1/photos/{id}/similar/ and /api/v1/searches/ for the owner, another user, an anonymous client and staff.

The vectors are written here the way the worker writes them: these tests are about the API's
plumbing (paging, visibility, status codes); the real worker and models run in tests/e2e.
"""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from gallery.models import AnalysisStatus, Image, Visibility
from inference.configuration import configured_model_version
from inference.models import ImageAnalysis, ImageEmbedding
from inference.versions import EMBEDDING_DIM
from search.models import SimilarityQuery
from tests.api.conftest import assert_error
from tests.conftest import photo_bytes

pytestmark = pytest.mark.django_db


def unit(vector) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


BASE = unit(np.ones(EMBEDDING_DIM))


def index(image: Image, vector: np.ndarray, crop_vector: np.ndarray | None = None) -> Image:
    Image.objects.filter(id=image.id).update(analysis_status=AnalysisStatus.DONE)
    ImageAnalysis.objects.create(image=image, model_version=configured_model_version(), status=AnalysisStatus.DONE)
    ImageEmbedding.objects.create(image=image, model_version=configured_model_version(), vector=vector,
                                  whole_vector=vector,
                                  crop_vector=vector if crop_vector is None else crop_vector,
                                  owner_id=image.owner_id, visibility=image.visibility)
    return image


@pytest.fixture
def gallery(owner, stranger, make_photo):
    """owner: a query photo and four neighbours; stranger: one public, one private neighbour."""
    rng = np.random.default_rng(0)
    photos = {"query": index(make_photo(owner, visibility=Visibility.PUBLIC), BASE)}
    for n in range(4):
        photos[f"mine{n}"] = index(make_photo(owner), unit(BASE + (0.2 + n * 0.3) * rng.normal(size=EMBEDDING_DIM)))
    # Its crop matches better than the whole photo does.
    photos["public"] = index(make_photo(stranger, visibility=Visibility.PUBLIC),
                             unit(BASE + 0.05 * rng.normal(size=EMBEDDING_DIM)),
                             crop_vector=BASE)
    photos["private"] = index(make_photo(stranger), BASE)
    return photos


def test_owner_pages_through_similar_photos(client_for, owner, gallery):
    client = client_for(owner)
    first = client.get(f"/api/v1/photos/{gallery['query'].id}/similar/?limit=3").json()
    assert first["status"] == "done" and first["has_more"] is True and len(first["results"]) == 3
    second = client.get(first["next"]).json()
    assert second["has_more"] is False and second["next"] is None
    ids = [r["photo"]["id"] for r in first["results"] + second["results"]]
    expected = {gallery[k].id for k in ("mine0", "mine1", "mine2", "mine3", "public")}
    assert sorted(ids) == sorted(map(str, expected))  # not the photo itself, not the stranger's private one
    similarities = [r["similarity"] for r in first["results"] + second["results"]]
    assert similarities == sorted(similarities, reverse=True)
    top = first["results"][0]
    assert top["photo"]["id"] == str(gallery["public"].id)
    assert top["match"] == "crop" and top["crop_similarity"] > top["whole_similarity"]
    assert top["photo"]["owner"] == "stranger" and "analysis" not in top["photo"]


@pytest.mark.parametrize("who", ["stranger", "anonymous", "staff"])
def test_others_see_only_public_results(who, client_for, stranger, staff, gallery):
    client = client_for({"stranger": stranger, "anonymous": None, "staff": staff}[who])
    results = client.get(f"/api/v1/photos/{gallery['query'].id}/similar/?limit=50").json()["results"]
    visible = {str(gallery["public"].id)} | ({str(gallery["private"].id)} if who == "stranger" else set())
    assert {r["photo"]["id"] for r in results} == visible
    assert_error(client.get(f"/api/v1/photos/{gallery['mine0'].id}/similar/"), 404)


def test_similar_says_pending_until_the_photo_is_analysed(client_for, owner, make_photo):
    photo = make_photo(owner)
    body = client_for(owner).get(f"/api/v1/photos/{photo.id}/similar/").json()
    assert body == {"status": "pending", "results": [], "has_more": False, "next": None}
    assert_error(client_for(owner).get(f"/api/v1/photos/{photo.id}/similar/?limit=0"), 400)


def test_search_with_a_new_photo_is_202_then_pending_then_results(client_for, owner, gallery,
                                                                  django_capture_on_commit_callbacks):
    client = client_for(owner)
    with django_capture_on_commit_callbacks(execute=False) as jobs:
        response = client.post("/api/v1/searches/", {"file": SimpleUploadedFile("q.jpg", photo_bytes(5))},
                               format="multipart")
    assert response.status_code == 202, response.content
    search = response.json()
    assert len(jobs) == 1 and search["status"] == "pending" and search["results"] == []
    assert response["Location"] == search["url"]
    assert Image.objects.count() == len(gallery)  # a search photo never joins the gallery

    assert client.get(search["url"]).json()["status"] == "pending"
    # What the worker writes when it is done (search.services.similarity_query_analyze).
    SimilarityQuery.objects.filter(id=search["id"]).update(
        status=AnalysisStatus.DONE, model_version=configured_model_version(), vector=BASE, whole_vector=BASE,
        crop_vector=BASE,
        finished_at=timezone.now())
    done = client.get(f"{search['url']}?limit=2").json()
    assert done["status"] == "done" and len(done["results"]) == 2 and done["has_more"]
    assert done["results"][0]["photo"]["id"] in {str(gallery["query"].id), str(gallery["public"].id)}
    assert {"similarity", "whole_similarity", "crop_similarity", "match"} <= set(done["results"][0])


def test_search_with_a_region_of_a_visible_photo(client_for, stranger, owner, gallery,
                                                 django_capture_on_commit_callbacks):
    client = client_for(stranger)
    public = gallery["query"]  # the owner's public photo
    box = {"left": 0, "top": 0, "right": 100, "bottom": 80}
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post("/api/v1/searches/", {"photo": str(public.id), "box": box}, format="json")
    assert response.status_code == 202
    assert response.json()["box"] == box and response.json()["photo"] == str(public.id)
    # Someone else's private photo is unknown; a region too small is refused with the field at fault.
    error = assert_error(client.post("/api/v1/searches/", {"photo": str(gallery["mine0"].id), "box": box},
                                     format="json"), 400, "unknown_photo")
    assert "photo" in error["fields"]
    error = assert_error(client.post("/api/v1/searches/", {"photo": str(public.id),
                                                           "box": {**box, "right": 5}}, format="json"),
                         400, "region_too_small")
    assert "box" in error["fields"]
    # A search belongs to whoever made it.
    assert_error(client_for(owner).get(response.json()["url"]), 404)


def test_search_uploads_are_checked_like_photos(client_for, owner, settings):
    client = client_for(owner)
    assert_error(client.post("/api/v1/searches/", {"file": SimpleUploadedFile("q.jpg", b"text")},
                             format="multipart"), 415, "not_an_image")
    settings.UPLOAD_MAX_BYTES = 1000
    assert_error(client.post("/api/v1/searches/", {"file": SimpleUploadedFile("q.jpg", photo_bytes(6))},
                             format="multipart"), 413, "too_large")
    assert not SimilarityQuery.objects.exists()


def test_anonymous_cannot_search(client_for, gallery):
    client = client_for(None)
    assert_error(client.post("/api/v1/searches/", {"photo": str(gallery["query"].id),
                                                   "box": {"left": 0, "top": 0, "right": 50, "bottom": 50}},
                             format="json"), 401)
    assert_error(client.get(f"/api/v1/searches/{gallery['query'].id}/"), 401)


def test_staff_cannot_read_someone_elses_search(client_for, owner, staff, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        search = client_for(owner).post("/api/v1/searches/", {"file": SimpleUploadedFile("q.jpg", photo_bytes(7))},
                                        format="multipart").json()
    assert_error(client_for(staff).get(search["url"]), 404)


def test_similar_and_search_result_pages_cost_the_same_queries_whatever_their_size(
        client_for, owner, gallery, django_assert_num_queries, django_capture_on_commit_callbacks):
    client = client_for(owner)
    with django_capture_on_commit_callbacks(execute=False):
        search = client.post("/api/v1/searches/", {"photo": str(gallery["query"].id),
                                                   "box": {"left": 0, "top": 0, "right": 100, "bottom": 80}},
                             format="json").json()
    SimilarityQuery.objects.filter(id=search["id"]).update(
        status=AnalysisStatus.DONE, model_version=configured_model_version(), vector=BASE, whole_vector=BASE,
        crop_vector=BASE)
    # similar: knox (2), the photo, its vectors of the serving version (one query), then the
    # pgvector search in a transaction (savepoint, the settings in one statement, the query with
    # the results' overlays, release). A search: knox (2), the search, then the same search.
    expected = {f"/api/v1/photos/{gallery['query'].id}/similar/": 8, search["url"]: 7}
    for url, queries in expected.items():
        for limit in (1, 5):
            with django_assert_num_queries(queries):
                response = client.get(f"{url}?limit={limit}")
            assert len(response.json()["results"]) == limit
