"""End to end over the API: a real Celery worker process analyses real uploads with the real models.
(The browser walk is tests/e2e/test_web_experience.py.)"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from gallery.models import AnalysisStatus, Image
from inference.models import ImageAnalysis
from tests.conftest import photo_bytes, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The worker loads TensorFlow and converts the weights on its first start (cached afterwards).
FIRST_ANALYSIS_TIMEOUT_S = 180


def all_done(count: int):
    def check():
        failed = list(ImageAnalysis.objects.filter(status=AnalysisStatus.FAILED).values_list("error", flat=True))
        assert not failed, failed
        return ImageAnalysis.objects.filter(status=AnalysisStatus.DONE).count() == count
    return check


def test_api_session_with_a_real_worker(celery_worker_process, make_user, tmp_path):
    """A phone's session: sign in, upload two photos in one request each and a big one with tus
    resumed after a dropped connection, wait for the analyses, find similar photos, search with a region."""
    user = make_user("mobile")
    client = APIClient()
    token = client.post("/api/v1/auth/token/", {"username": "mobile", "password": "pw-123456"}).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    ids = []
    for seed in range(2):
        response = client.post("/api/v1/photos/", {"file": SimpleUploadedFile(f"{seed}.jpg", photo_bytes(100 + seed))},
                               format="multipart")
        assert response.status_code == 201, response.content
        ids.append(response.json()["id"])

    big = photo_bytes(102, size=(1600, 1200), quality=95)
    tus = {"HTTP_TUS_RESUMABLE": "1.0.0"}
    url = client.post("/api/v1/uploads/", HTTP_UPLOAD_LENGTH=str(len(big)), **tus)["Location"]
    patch = dict(content_type="application/offset+octet-stream", **tus)
    assert client.patch(url, data=big[:50_000], HTTP_UPLOAD_OFFSET="0", **patch).status_code == 204
    offset = int(client.head(url, **tus)["Upload-Offset"])  # after the drop: where to go on from
    done = client.patch(url, data=big[offset:], HTTP_UPLOAD_OFFSET=str(offset), **patch)
    assert done.status_code == 204, done.content
    ids.append(client.get(done["Photo-Location"]).json()["id"])

    wait_for(all_done(3), timeout=FIRST_ANALYSIS_TIMEOUT_S, message="three analyses by the worker")
    resumed = client.get(f"/api/v1/photos/{ids[2]}/").json()
    assert resumed["analysis_status"] == "done" and resumed["analysis"]["crop_box"]
    assert b"".join(client.get(resumed["urls"]["original"]).streaming_content) == big  # byte-identical

    similar = client.get(f"/api/v1/photos/{ids[0]}/similar/").json()
    assert similar["status"] == "done"
    assert {r["photo"]["id"] for r in similar["results"]} == set(ids[1:])
    assert all(r["match"] in ("whole", "crop") for r in similar["results"])
    overlay = client.get(similar["results"][0]["overlay_url"])
    assert overlay.status_code == 200 and overlay["Content-Type"] == "image/png"
    assert Image.objects.filter(owner=user).count() == 3

    box = resumed["analysis"]["crop_box"]
    search = client.post("/api/v1/searches/", {"photo": ids[2], "box": box}, format="json")
    assert search.status_code == 202
    finished = wait_for(lambda: (body := client.get(search.json()["url"]).json())["status"] in ("done", "failed")
                        and body, timeout=60, message="the region search")
    assert finished["status"] == "done", finished["error"]
    assert {r["photo"]["id"] for r in finished["results"]} == set(ids[:2])  # not the photo it was drawn on
