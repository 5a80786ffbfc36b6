"""End to end over the API: a real Celery worker process analyses real uploads with the real models.
(The browser walk is tests/e2e/test_web_experience.py.)"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from gallery.models import Image
from inference.models import AnalysisStatus, ImageAnalysis
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


def test_api_upload_is_analysed_by_a_real_worker(celery_worker_process, make_user, tmp_path):
    user = make_user("mobile")
    client = APIClient()
    token = client.post("/api/token/", {"username": "mobile", "password": "pw-123456"}).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    ids = []
    for seed in range(3):
        (tmp_path / f"{seed}.jpg").write_bytes(photo_bytes(100 + seed))
        with open(tmp_path / f"{seed}.jpg", "rb") as handle:
            response = client.post("/api/images/", {"file": handle}, format="multipart")
        assert response.status_code == 201, response.content
        ids.append(response.json()["id"])

    wait_for(all_done(3), timeout=FIRST_ANALYSIS_TIMEOUT_S, message="three analyses by the worker")
    similar = client.get(f"/api/images/{ids[0]}/similar/").json()
    assert similar["status"] == "done"
    assert {r["image"]["id"] for r in similar["results"]} == set(ids[1:])
    assert all(r["overlay_url"] for r in similar["results"])
    assert Image.objects.filter(owner=user).count() == 3
