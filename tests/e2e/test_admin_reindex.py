"""An operator re-indexes from the admin in real Chromium and watches the progress bar, moved by
the page's own polling (no reload), reach 100% while a real worker analyses the photos."""

from __future__ import annotations

import pytest

from inference.versions import MODEL_VERSION
from tests.e2e.test_end_to_end import browser  # noqa: F401 - the shared Chromium fixture
from tests.inference.test_reindex_worker import (  # noqa: F401 - the worker fixture
    WORKER_START_TIMEOUT_S,
    uploaded_without_analysis,
    workers,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHOTOS = 5


@pytest.fixture
def gallery_waiting_for_analysis(make_user, admin_user):
    # Set up before the browser starts: Django refuses database calls inside Playwright's event loop.
    return uploaded_without_analysis(make_user, PHOTOS)


def test_reindex_from_the_admin_and_watch_the_progress_bar(gallery_waiting_for_analysis, workers,  # noqa: F811
                                                           live_server, browser):  # noqa: F811
    workers()
    page = browser.new_page()
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")

    # Both pages are reachable from the admin index.
    assert page.locator("#background-work a", has_text="Jobs dashboard").count() == 1
    page.click("#background-work >> text=Model versions")
    page.wait_for_url("**/admin/inference/modelversion/")

    page.check("input[name=scope][value=all]")
    assert page.locator("select[name=version]").input_value() == MODEL_VERSION
    page.click("form.reindex button[type=submit]")
    page.wait_for_selector(f"text=Marked {PHOTOS} photo(s) for analysis with {MODEL_VERSION}")

    row = page.locator(f'tr[data-version="{MODEL_VERSION}"]')
    assert float(row.locator("progress").get_attribute("value")) < 100
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads: the bar must move by itself
    page.wait_for_function(
        """version => {
            const rows = Array.from(document.querySelectorAll('tr[data-version]'));
            const row = rows.find(r => r.dataset.version === version);
            return row && row.querySelector('progress').value === 100;
        }""",
        arg=MODEL_VERSION, timeout=(WORKER_START_TIMEOUT_S + 60) * 1000,
    )
    assert page.evaluate("window.loadedOnce") is True
    assert row.locator('[data-field="percent"]').inner_text() == "100.0%"
    assert row.locator('[data-field="finished"]').inner_text() == str(PHOTOS)
    assert row.locator('[data-field="failed"]').inner_text() == "0"

    # The jobs dashboard shows the hour's work.
    page.goto(f"{live_server.url}/admin/inference/modelversion/jobs/")
    assert page.locator(".done-last-hour").inner_text() == str(PHOTOS)
    assert page.locator(".queue-inference").inner_text() == "0"
