"""The interactive API docs render in a real browser from our own files, with no other host."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import SCREENSHOT_DIR

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_lists_every_operation_offline(page, live_server):
    elsewhere = []

    def record(request):
        if not request.url.startswith(live_server.url):
            elsewhere.append(request.url)

    page.on("request", record)
    page.goto("/api/docs/")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    paths = set(page.locator(".opblock-summary-path").all_inner_texts())
    assert {"/api/v1/photos/", "/api/v1/photos/{photo_id}/similar/", "/api/v1/searches/", "/api/v1/uploads/{guid}/",
            "/api/v1/albums/{album_id}/photos/", "/api/v1/auth/tokens/"} <= {p.replace("\u200b", "") for p in paths}
    assert page.locator("button.authorize").count() == 1  # token and session auth can be entered
    assert elsewhere == []  # nothing fetched from a CDN: the docs work offline
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOT_DIR / "api-docs-desktop.png")
