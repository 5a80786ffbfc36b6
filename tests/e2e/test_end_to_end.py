"""End to end: a real Celery worker process analyses real uploads with the real models, and a
real Chromium drives the site the way a new user would."""

from __future__ import annotations

import shutil

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


@pytest.fixture
def browser():
    playwright_sync = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is required for browser tests: run `make test` (it installs it) "
                    "or apt-get install chromium")
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


def test_new_user_signs_up_uploads_and_finds_similar(celery_worker_process, live_server, browser, tmp_path):
    paths = []
    for seed in range(3):
        path = tmp_path / f"holiday-{seed}.jpg"
        path.write_bytes(photo_bytes(200 + seed))
        paths.append(str(path))

    page = browser.new_page()
    page.goto(f"{live_server.url}/accounts/signup/")
    page.fill("#id_username", "newcomer")
    page.fill("#id_password1", "a-long-pass-phrase-42")
    page.fill("#id_password2", "a-long-pass-phrase-42")
    page.click("button[type=submit]")
    page.wait_for_url("**/mine/")

    page.set_input_files("input[type=file]", paths)
    page.click("form.upload button[type=submit]")
    page.wait_for_selector("text=Uploaded 3 photos")
    assert page.locator(".grid .tile").count() == 3

    page.locator(".grid .tile a").first.click()
    # The page polls its status and reloads itself when the worker is done.
    page.wait_for_selector(".status-done", timeout=FIRST_ANALYSIS_TIMEOUT_S * 1000)
    overlay = page.locator(".photo .overlay")
    assert overlay.is_hidden()
    page.check("#overlay-toggle")
    assert overlay.is_visible()

    # The other two finish moments later; like a person, reload until they are listed.
    # (No ORM here: Django refuses database calls inside Playwright's event loop.)
    def two_similar():
        page.reload()
        return page.locator(".similar .tile").count() == 2
    wait_for(two_similar, timeout=60, interval=1, message="the other two photos under Similar")
    assert page.locator(".similar .tile .overlay").count() == 2
