"""Under /api/ every error has the one JSON shape, whoever produced it: unknown paths, wrong
methods on every API route, an exception inside a view, throttling, missing credentials, a failed
CSRF check, a refused Host header."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.api.conftest import assert_error
from tests.failing_urls import SECRET

pytestmark = pytest.mark.django_db


def api_routes(patterns=None, prefix: str = "") -> list[str]:
    """Every route under /api/, read from the resolver (a new endpoint is walked automatically)."""
    found = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            found += api_routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and (prefix + str(entry.pattern)).startswith("api/"):
            found.append(prefix + str(entry.pattern))
    return found


def filled(pattern: str) -> str:
    values = {"uuid": str(uuid.uuid4()), "int": "1"}
    return "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda m: values.get(m.group(1) or "", "x"), pattern)


@pytest.mark.parametrize("url", ["/api/", "/api", "/api/v1/", "/api/v1/nonexistent/", "/api/v1/photos/not-a-uuid/",
                                 "/api/v2/photos/"])
def test_unknown_api_paths_answer_json_404(url, client_for, owner):
    for client in (client_for(None), client_for(owner)):
        assert_error(client.get(url, follow=True), 404, "not_found")


def test_a_wrong_method_on_every_api_route_answers_json_405(client_for, owner):
    routes = api_routes()
    assert len(routes) >= 20, routes  # the walk found the API
    client = client_for(owner)
    for pattern in routes:
        response = client.put(filled(pattern), {}, format="json")
        assert_error(response, 405, "method_not_allowed")
        assert response["Allow"], pattern


@pytest.mark.urls("tests.failing_urls")
def test_an_exception_inside_an_api_view_answers_json_500_without_details():
    response = Client(raise_request_exception=False).get("/api/v1/test-failure/")
    error = assert_error(response, 500, "server_error")
    assert SECRET not in response.content.decode() and "Traceback" not in response.content.decode()
    assert "try again" in error["message"]


def test_throttled_unauthenticated_and_refused_answers_keep_the_shape_and_headers(settings, client_for, owner):
    response = client_for(None).get("/api/v1/photos/")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Token")
    assert_error(client_for(None).get("/api/v1/photos/", HTTP_AUTHORIZATION="Token nonsense"), 401,
                 "authentication_failed")

    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "user": "1/minute"}
    throttled = client_for(owner)
    assert throttled.get("/api/v1/photos/").status_code == 200
    response = throttled.get("/api/v1/photos/")
    assert_error(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60
    # Throttled on the schema and docs too, which render YAML and HTML when all goes well.
    for url in ["/api/schema/", "/api/docs/"]:
        assert_error(throttled.get(url), 429, "throttled")

    # A Host the site does not answer to.
    assert_error(client_for(owner).get("/api/v1/public/photos/", HTTP_HOST="attacker.example"), 400)


def test_a_session_write_without_csrf_token_answers_json_403(owner):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    error = assert_error(browser.post("/api/v1/albums/", {"title": "x"}, content_type="application/json"), 403)
    assert "CSRF" in error["message"]
    # With the token the same request works: the refusal was the CSRF check.
    browser.get("/accounts/profile/")
    token = browser.cookies["csrftoken"].value
    assert browser.post("/api/v1/albums/", {"title": "x"}, content_type="application/json",
                        HTTP_X_CSRFTOKEN=token).status_code == 201
