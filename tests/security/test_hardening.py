"""Deployment hardening: check --deploy, security headers, CSRF, GPS never served to others, and
media only behind a permission check (handed to nginx or a signed URL in production). The Content
Security Policy is checked in real Chromium by tests/e2e/test_content_security_policy.py."""

from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlparse

import PIL.Image
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from gallery import services
from gallery.models import Visibility
from gallery.platform import media
from tests.conftest import ROOT
from tests.security.hostile_files import (
    GPS_LATITUDE,
    PIXEL_ONLY_JPEG_MARKERS,
    jpeg_markers,
    jpeg_with_gps_and_orientation,
)
from tests.security.world import world_build


def test_check_deploy_is_clean_with_production_settings():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "gallery.config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "photos.example.org",
        # Checks do not connect; real URLs keep the settings from starting embedded servers.
        "DATABASE_URL": "postgresql://gallery@db.invalid/gallery",
        "CELERY_BROKER_URL": "redis://redis.invalid:6379/0",
    }
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_pages_and_files_carry_the_security_headers(client, django_user_model):
    world = world_build(django_user_model)
    for url in ["/", f"/photos/{world.public.id}/", f"/photos/{world.public.id}/file", "/api/v1/public/photos/",
                f"/api/v1/photos/{world.public.id}/display/"]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["X-Content-Type-Options"] == "nosniff", url
        assert response["X-Frame-Options"] == "DENY", url
        assert response["Referrer-Policy"] == "same-origin", url
        policy = response["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["script-src"] == "'self'" and "unsafe" not in policy, url
        assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'", url


@pytest.mark.django_db
def test_gps_coordinates_reach_nobody_but_the_owner(make_user, django_capture_on_commit_callbacks):
    owner, stranger = make_user("owner"), make_user("stranger")
    original = jpeg_with_gps_and_orientation()
    assert PIL.Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825), "the test photo must carry GPS"
    with django_capture_on_commit_callbacks(execute=False):
        photo = services.image_create(owner=owner, data=original, filename="phone.jpg",
                                      visibility=Visibility.PUBLIC)
    seen = Client()
    seen.force_login(stranger)
    served = [b"".join(seen.get(url).streaming_content) for url in (
        f"/photos/{photo.id}/file", f"/photos/{photo.id}/thumbnail/square.jpg",
        f"/photos/{photo.id}/thumbnail/wide.jpg",
        f"/api/v1/photos/{photo.id}/display/", f"/api/v1/photos/{photo.id}/thumbnails/square/")]
    for body in served:
        with PIL.Image.open(io.BytesIO(body)) as image:
            assert not image.getexif(), "EXIF (GPS) served to a stranger"
        assert set(jpeg_markers(body)) <= PIXEL_ONLY_JPEG_MARKERS, "a metadata segment served to a stranger"
    # The photo is shown upright (EXIF orientation 6 applied to the pixels, then dropped).
    assert PIL.Image.open(io.BytesIO(served[0])).size == (40, 80)
    for path in (f"/photos/{photo.id}/", f"/api/v1/photos/{photo.id}/"):
        body = seen.get(path).content
        assert b"GPS" not in body and str(GPS_LATITUDE[0]).encode() not in body
    assert seen.get(f"/photos/{photo.id}/original").status_code == 404
    assert seen.get(f"/api/v1/photos/{photo.id}/original/").status_code == 404
    assert Client().get(f"/photos/{photo.id}/original").status_code == 404

    mine = Client()
    mine.force_login(owner)
    response = mine.get(f"/photos/{photo.id}/original")
    assert response["Content-Disposition"].startswith("attachment")
    assert b"".join(response.streaming_content) == original, "the owner gets the exact bytes back"


@pytest.mark.django_db
def test_no_stored_file_is_reachable_by_its_storage_name(client, django_user_model):
    world = world_build(django_user_model)
    client.force_login(world.owner)
    for name in (world.public.file.name, world.public.display.name, world.private.file.name):
        for url in (f"/{name}", f"/media/{name}"):
            assert client.get(url).status_code == 404, url


@pytest.mark.django_db
def test_state_changing_requests_need_a_csrf_token(django_user_model, django_capture_on_commit_callbacks):
    world = world_build(django_user_model)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(world.owner)
    photo = world.private.id
    upload = {"files": SimpleUploadedFile("x.jpg", b"", content_type="image/jpeg"), "visibility": "private"}
    for url, data in [("/upload/", upload), (f"/photos/{photo}/edit", {"title": "x", "visibility": "public"}),
                      (f"/photos/{photo}/delete", {}), (f"/photos/{photo}/retry", {}), ("/accounts/logout/", {})]:
        assert browser.post(url, data).status_code == 403, url
    session_api = APIClient(enforce_csrf_checks=True)
    session_api.force_login(world.owner)
    assert session_api.patch(f"/api/v1/photos/{photo}/", {"title": "x"}, format="json").status_code == 403
    # A token is not sent by browsers on their own, so token requests need no CSRF token.
    token_api = APIClient(enforce_csrf_checks=True)
    token_api.credentials(HTTP_AUTHORIZATION=f"Token {world.token_key}")
    assert token_api.patch(f"/api/v1/photos/{photo}/", {"title": "x"}, format="json").status_code == 200
    world.private.refresh_from_db()
    assert world.private.visibility == Visibility.PRIVATE


@pytest.mark.django_db
def test_media_is_handed_to_nginx_only_after_the_permission_check(client, django_user_model, settings):
    settings.SERVE_MEDIA_WITH = "x-accel"
    settings.MEDIA_X_ACCEL_PREFIX = "/protected-media/"
    world = world_build(django_user_model)
    client.force_login(world.other)
    refused = client.get(f"/photos/{world.private.id}/file")
    assert refused.status_code == 404 and "X-Accel-Redirect" not in refused
    client.force_login(world.owner)
    for url, field in [(f"/photos/{world.private.id}/file", world.private.display),
                       (f"/photos/{world.private.id}/original", world.private.file)]:
        response = client.get(url)
        assert response.status_code == 200 and response.content == b""
        assert response["X-Accel-Redirect"] == f"/protected-media/{field.name}"
    assert client.get(f"/photos/{world.private.id}/original")["Content-Disposition"].startswith("attachment")


@pytest.mark.django_db
def test_media_redirects_to_a_signed_s3_url_that_nobody_caches(django_user_model, settings):
    """With S3 (django-storages) the view, after its check, hands out a URL signed to expire."""
    from storages.backends.s3 import S3Storage

    settings.SERVE_MEDIA_WITH = "redirect"
    world = world_build(django_user_model)
    field = world.private.file
    # Signing is local computation: no request reaches S3 here.
    field.storage = S3Storage(bucket_name="photos", access_key="AKIAEXAMPLEEXAMPLE", secret_key="not-a-secret",
                              region_name="eu-west-1", querystring_auth=True, querystring_expire=300)
    response = media.file_response(field, content_type="image/jpeg", cache_control="private, max-age=60",
                                   download_name="holiday.jpg")
    assert response.status_code == 302 and response["Cache-Control"] == "private, no-store"
    location = urlparse(response["Location"])
    query = parse_qs(location.query)
    assert location.path.endswith(field.name)
    # Signed (query-string auth) and short-lived: it expires about querystring_expire from now.
    assert query["Signature"][0] and query["AWSAccessKeyId"] == ["AKIAEXAMPLEEXAMPLE"]
    assert 0 < int(query["Expires"][0]) - time.time() <= 300
    assert query["response-content-disposition"][0].startswith("attachment")
