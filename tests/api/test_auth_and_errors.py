"""Tokens (obtain, list, revoke), session auth, throttling and the one error shape."""

from __future__ import annotations

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/api/v1/auth/token/", "/api/token/"])
def test_username_and_password_give_a_token_that_works(url, owner):
    client = APIClient()
    response = client.post(url, {"username": "owner", "password": "pw-123456"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["token"].startswith(body["id"]) and body["expiry"] and body["current"] is False
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert client.get("/api/v1/photos/").status_code == 200
    # Only a hash is stored.
    assert not AuthToken.objects.filter(digest=body["token"]).exists()


def test_wrong_password_and_missing_fields(owner):
    client = APIClient()
    assert_error(client.post("/api/v1/auth/token/", {"username": "owner", "password": "nope"}, format="json"),
                 400, "invalid_credentials")
    error = assert_error(client.post("/api/v1/auth/token/", {"username": "owner"}, format="json"), 400, "invalid")
    assert list(error["fields"]) == ["password"]


def test_each_device_has_its_own_token_listed_and_revoked_by_its_owner(owner, stranger, client_for):
    phone, tablet = APIClient(), APIClient()
    tokens = {}
    for name, device in (("phone", phone), ("tablet", tablet)):
        tokens[name] = device.post("/api/v1/auth/token/", {"username": "owner", "password": "pw-123456"}).json()
        device.credentials(HTTP_AUTHORIZATION=f"Token {tokens[name]['token']}")
    listed = phone.get("/api/v1/auth/tokens/").json()
    assert {t["id"] for t in listed} == {tokens["phone"]["id"], tokens["tablet"]["id"]}
    assert [t["current"] for t in listed if t["id"] == tokens["phone"]["id"]] == [True]
    assert all("token" not in t for t in listed)

    # Someone else cannot see or revoke them.
    other = client_for(stranger)
    assert tokens["tablet"]["id"] not in {t["id"] for t in other.get("/api/v1/auth/tokens/").json()}
    assert_error(other.delete(f"/api/v1/auth/tokens/{tokens['tablet']['id']}/"), 404)

    # The phone revokes the lost tablet: the tablet is signed out, the phone is not.
    assert phone.delete(f"/api/v1/auth/tokens/{tokens['tablet']['id']}/").status_code == 204
    assert_error(tablet.get("/api/v1/photos/"), 401, "authentication_failed")
    assert phone.get("/api/v1/photos/").status_code == 200


def test_anonymous_and_staff_on_token_lists(client_for, staff, owner):
    client_for(owner)  # owner has a token
    assert_error(client_for(None).get("/api/v1/auth/tokens/"), 401)
    assert len(client_for(staff).get("/api/v1/auth/tokens/").json()) == 1  # staff see only their own


def test_session_auth_for_the_browser(client, owner, make_photo):
    make_photo(owner)
    client.force_login(owner)
    response = client.get("/api/v1/photos/")
    assert response.status_code == 200 and len(response.json()["results"]) == 1


def test_throttling_per_anonymous_client_and_per_user_with_retry_after(settings, client_for, owner):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "anon": "2/minute", "user": "3/minute"}
    anonymous = client_for(None)
    for _ in range(2):
        assert anonymous.get("/api/v1/public/photos/").status_code == 200
    response = anonymous.get("/api/v1/public/photos/")
    assert_error(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60
    # A made-up X-Forwarded-For is no way round it (no proxy is configured).
    assert_error(anonymous.get("/api/v1/public/photos/", HTTP_X_FORWARDED_FOR="203.0.113.77"), 429)

    user = client_for(owner)
    for _ in range(3):
        assert user.get("/api/v1/photos/").status_code == 200
    assert_error(user.get("/api/v1/public/photos/"), 429, "throttled")  # counted per account, across endpoints


def test_token_requests_are_throttled_per_address(settings, owner):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "auth": "2/minute"}
    client = APIClient()
    for _ in range(2):
        client.post("/api/v1/auth/token/", {"username": "owner", "password": "wrong"})
    response = client.post("/api/v1/auth/token/", {"username": "owner", "password": "pw-123456"})
    assert_error(response, 429, "throttled")
    assert "Retry-After" in response


def test_errors_keep_their_shape(client_for, owner):
    client = client_for(owner)
    assert_error(client.get("/api/v1/no-such-thing/"), 404, "not_found")
    assert_error(client.put("/api/v1/photos/"), 405, "method_not_allowed")
    assert_error(client.post("/api/v1/albums/", "{not json", content_type="application/json"), 400)
    assert_error(client.post("/api/v1/albums/", "<a/>", content_type="application/xml"), 415,
                 "unsupported_media_type")
    assert_error(client_for(None).get("/api/v1/albums/", HTTP_AUTHORIZATION="Token nonsense"), 401,
                 "authentication_failed")


def test_schema_and_docs_are_served():
    client = APIClient()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/photos/{photo_id}/similar/" in paths and "/api/v1/uploads/{guid}/" in paths
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content
    assert b"cdn.jsdelivr" not in docs.content  # served from our static files: works offline


def test_schema_is_valid_openapi_3_and_generated_without_guesswork(tmp_path):
    """drf-spectacular fails on any warning: every view, field and response resolved, none guessed."""
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    text = (tmp_path / "schema.yaml").read_text()
    assert text.startswith("openapi: 3.") and "knoxApiToken" in text and "cookieAuth" in text
