"""An operator re-indexes from the admin in real Chromium and watches the progress bar, moved by
the page's own polling (no reload), reach 100% while a real worker analyses the photos."""

from __future__ import annotations

import pytest

from inference.configuration import configured_model_version
from tests.e2e.conftest import snap
from tests.inference.test_reindex_worker import (  # noqa: F401 - the worker fixture
    WORKER_START_TIMEOUT_S,
    uploaded_without_analysis,
    workers,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHOTOS = 5


def test_reindex_from_the_admin_and_watch_the_progress_bar(workers, page, make_user, admin_user):  # noqa: F811
    uploaded_without_analysis(make_user, PHOTOS)
    workers()
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")

    # Both pages are reachable from the admin index.
    assert page.locator("#background-work a", has_text="Jobs dashboard").count() == 1
    page.click("#background-work >> text=Model versions")
    page.wait_for_url("**/admin/inference/modelversion/")

    page.check("input[name=scope][value=all]")
    assert page.locator("select[name=version]").input_value() == configured_model_version()
    page.click("form.reindex button[type=submit]")
    page.wait_for_selector(f"text=Marked {PHOTOS} photo(s) for analysis with {configured_model_version()}")

    row = page.locator(f'tr[data-version="{configured_model_version()}"]')
    assert float(row.locator("progress").get_attribute("value")) < 100
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads: the bar must move by itself
    page.wait_for_function(
        """version => {
            const rows = Array.from(document.querySelectorAll('tr[data-version]'));
            const row = rows.find(r => r.dataset.version === version);
            return row && row.querySelector('progress').value === 100;
        }""",
        arg=configured_model_version(), timeout=(WORKER_START_TIMEOUT_S + 60) * 1000,
    )
    assert page.evaluate("window.loadedOnce") is True
    snap(page, "admin-model-versions")
    assert row.locator('[data-field="percent"]').inner_text() == "100.0%"
    assert row.locator('[data-field="finished"]').inner_text() == str(PHOTOS)
    assert row.locator('[data-field="failed"]').inner_text() == "0"
    # A fresh install: the first version to finish a photo became the active one, live on the page.
    assert row.locator('[data-field="status"]').inner_text() == "Active"

    # The jobs dashboard shows the hour's work.
    page.goto("/admin/inference/modelversion/jobs/")
    assert page.locator(".done-last-hour").inner_text() == str(PHOTOS)
    assert page.locator(".queue-inference").inner_text() == "0"
    snap(page, "admin-jobs")
