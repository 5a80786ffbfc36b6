"""Safe by default: DEBUG is off unless DJANGO_DEBUG=1, and errors answer the site's own pages
(404, 403, 400, 500), never Django's debug pages with URL patterns, settings or tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.test import Client

from gallery.models import Visibility
from tests.conftest import ROOT
from tests.failing_urls import SECRET

# What only Django's debug pages (technical 404 and 500) contain.
DEBUG_PAGE_SIGNS = ("DEBUG = True", "URLconf", "Traceback", "Request Method:", "django.urls", "settings.py",
                    "Using the URLconf", "Exception Value")


def settings_debug(**env) -> str:
    """settings.DEBUG as a fresh process reads it from the environment (no server is contacted)."""
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_DEBUG"}
    environment.update(DJANGO_SETTINGS_MODULE="gallery.config.settings.base", DATABASE_URL="postgresql://x@db.invalid/x",
                       CELERY_BROKER_URL="redis://redis.invalid:6379/0", **env)
    result = subprocess.run([sys.executable, "-c", "from django.conf import settings; print(settings.DEBUG)"],
                            cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_debug_is_off_unless_asked_for():
    assert settings_debug() == "False"  # what `make run` gets
    assert settings_debug(DJANGO_DEBUG="0") == "False"
    assert settings_debug(DJANGO_DEBUG="1") == "True"


def assert_site_page(response, status: int, words: str) -> str:
    assert response.status_code == status, response.status_code
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    leaked = [sign for sign in DEBUG_PAGE_SIGNS if sign in body]
    assert not leaked, f"a debug page answered: {leaked}"
    assert words in body and "Saliency Gallery" in body and "favicon.svg" in body
    return body


@pytest.mark.django_db
@pytest.mark.urls("tests.failing_urls")
def test_errors_answer_the_sites_own_pages_never_a_debug_page(make_user, photo):
    owner, other = make_user(), make_user()
    private = photo(owner=owner, visibility=Visibility.PRIVATE, title="secret-holiday")
    client = Client(raise_request_exception=False)
    client.force_login(other)

    # Someone else's private photo: the same 404 page as a photo that does not exist.
    body = assert_site_page(client.get(f"/photos/{private.id}/"), 404, "Page not found")
    assert str(private.id) not in body and "secret-holiday" not in body
    assert_site_page(client.get("/no/such/page/"), 404, "Page not found")
    # A view that raises: the 500 page, the exception's text only in the log.
    body = assert_site_page(client.get("/test-failure/"), 500, "Something went wrong on our side")
    assert SECRET not in body and "RuntimeError" not in body
    # Someone without the admin's permissions, and a Host the site does not answer to.
    staff_without_permissions = make_user()
    staff_without_permissions.is_staff = True
    staff_without_permissions.save()
    client.force_login(staff_without_permissions)
    assert_site_page(client.get("/admin/gallery/image/"), 403, "You may not do this")
    assert_site_page(Client().get("/", HTTP_HOST="attacker.example"), 400, "could not be understood")


@pytest.mark.django_db
def test_a_failed_csrf_check_answers_the_sites_page(make_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user())
    assert_site_page(client.post("/albums/", {"title": "no token"}), 403, "The form had expired")


@pytest.mark.django_db
def test_every_page_kind_carries_the_favicon_and_favicon_ico_answers(admin_client):
    pages = {"/": admin_client, "/accounts/login/": Client(), "/admin/login/": Client(), "/admin/": admin_client,
             "/admin/gallery/image/": admin_client, "/admin/inference/modelversion/": admin_client,
             "/admin/inference/modelversion/jobs/": admin_client, "/api/docs/": Client()}
    for url, client in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert b'<link rel="icon" href="/static/favicon.svg"' in response.content, f"{url} has no favicon link"
    # Browsers ask for /favicon.ico whatever the page says (the static file itself is served by
    # whitenoise under `manage.py serve`: tests/gallery/test_launcher.py).
    icon = Client().get("/favicon.ico")
    assert icon.status_code == 302 and icon["Location"] == "/static/favicon.svg"


def test_management_commands_print_no_axes_banner():
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "gallery.config.settings.base",
                   "DATABASE_URL": "postgresql://x@db.invalid/x", "CELERY_BROKER_URL": "redis://redis.invalid:6379/0"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=environment,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "AXES" not in result.stdout + result.stderr
    assert result.stdout.startswith("System check identified no issues"), result.stdout + result.stderr
