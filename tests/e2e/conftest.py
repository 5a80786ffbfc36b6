"""Real Chromium for the browser tests (Debian's build, driven by Playwright for Python).

On CI a missing browser fails the run loudly: browser tests must never turn into silent skips
there. Every browser test can photograph pages at desktop and phone width into SCREENSHOT_DIR;
the README shows the best of them (docs/screenshots/).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOT_DIR = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "var" / "test" / "screenshots"))
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 360, "height": 740}}


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; browser tests must run on CI (`make test` installs Debian's chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(django_db_setup):  # the test database first: it cannot be created inside Playwright's loop
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (requirements-dev.txt)")
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM}")
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        # Playwright's sync API keeps an asyncio loop running in this thread, so Django refuses
        # the ORM calls the tests make between browser steps. Nothing async shares the
        # connection: allow them while the browser is up.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    """A desktop-sized page whose relative URLs go to the live test server."""
    # Playwright's wait_for_function evaluates its predicate with eval(), which the site's Content
    # Security Policy forbids; the policy itself is checked by test_content_security_policy.py.
    context = browser.new_context(viewport=VIEWPORTS["desktop"], base_url=live_server.url, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def snap(page, name: str) -> None:
    """Photograph the page at both widths; on the phone nothing may stick out sideways."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    start = page.viewport_size
    page.evaluate("window.scrollTo(0, 0)")  # from the top, or the sticky header lands mid-picture
    for label, viewport in VIEWPORTS.items():
        page.set_viewport_size(viewport)
        page.wait_for_timeout(150)  # let the layout settle at the new width
        page.screenshot(path=SCREENSHOT_DIR / f"{name}-{label}.png", full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {label} width"
    page.set_viewport_size(start)
