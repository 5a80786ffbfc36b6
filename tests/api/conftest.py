"""Fixtures for the REST API tests: the four kinds of caller, and photos made by the real service."""

from __future__ import annotations

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from gallery import services
from gallery.models import Visibility
from tests.conftest import photo_bytes


@pytest.fixture
def client_for():
    """An API client signed in with a real token for ``user``, or anonymous for None."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            _, token = AuthToken.objects.create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client

    return make


@pytest.fixture
def owner(make_user):
    return make_user("owner")


@pytest.fixture
def stranger(make_user):
    return make_user("stranger")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(username="staff", password="pw-123456", is_staff=True,
                                                 is_superuser=True)


@pytest.fixture
def make_photo(django_capture_on_commit_callbacks):
    """A photo through gallery.services.image_create; its analysis job is not sent."""
    seeds = iter(range(1000, 100_000))

    def make(owner, visibility=Visibility.PRIVATE, seed=None, **kwargs):
        with django_capture_on_commit_callbacks(execute=False):
            return services.image_create(owner=owner, data=photo_bytes(next(seeds) if seed is None else seed),
                                         filename="p.jpg", visibility=visibility, **kwargs)

    return make


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The one error shape, with the expected status (and code)."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    assert body["error"]["message"], body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


@pytest.fixture(autouse=True)
def _tus_chunks_in_tmp(settings, tmp_path):
    settings.REST_FRAMEWORK_TUS = {**settings.REST_FRAMEWORK_TUS, "UPLOAD_DIR": str(tmp_path / "tus")}
