"""The Content Security Policy (no inline script or style, nothing from elsewhere) breaks nothing:
real Chromium walks the pages, the API docs and the admin, and any violation fails."""

from __future__ import annotations

import pytest

from tests.conftest import photo_bytes
from tests.security.world import world_build

pytestmark = pytest.mark.e2e

CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(
    `${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


def test_pages_break_no_rule_of_the_content_security_policy(browser, live_server, django_user_model, tmp_path):
    """Every violation is collected (the policy blocks, so a violation is a broken feature)."""
    world = world_build(django_user_model)
    violations: list[str] = []
    pages = {
        None: ["/", "/accounts/login/", "/accounts/signup/", f"/photos/{world.public.id}/", "/api/docs/"],
        ("owner", "pw-owner-123"): ["/mine/", f"/photos/{world.private.id}/", f"/photos/{world.public.id}/",
                                    "/albums/", f"/albums/{world.album.id}/", "/search/",
                                    f"/search/{world.region_query.id}/", "/accounts/profile/"],
        ("staff", "pw-staff-123"): ["/admin/", "/admin/gallery/image/",
                                    f"/admin/gallery/image/{world.public.id}/change/"],
    }
    for login, paths in pages.items():
        context = browser.new_context()
        context.add_init_script(CSP_LISTENER)
        page = context.new_page()
        page.on("console", lambda message, page=page: violations.append(f"{page.url}: {message.text}")
                if "Content Security Policy" in message.text else None)
        if login:
            page.goto(f"{live_server.url}/accounts/login/")
            page.fill("#id_username", login[0])
            page.fill("#id_password", login[1])
            page.click("button[type=submit]")
            page.wait_for_load_state("networkidle")
        for path in paths:
            response = page.goto(f"{live_server.url}{path}")
            assert response.status == 200, path
            page.wait_for_load_state("networkidle")
            if path == "/mine/":  # the upload page's script: progress list, live status
                upload = tmp_path / "csp-upload.jpg"
                upload.write_bytes(photo_bytes(77))
                page.set_input_files("#upload-form input[type=file]", str(upload))
                page.locator("#uploads .upload-item[data-status]").wait_for()
            if path == "/api/docs/":  # Swagger UI renders under the policy (its script is a URL)
                page.locator(".swagger-ui .opblock").first.wait_for()
            violations.extend(f"{path}: {v}" for v in page.evaluate("window.__cspViolations"))
        context.close()
    assert not violations, "Content Security Policy violations:\n" + "\n".join(sorted(set(violations)))
