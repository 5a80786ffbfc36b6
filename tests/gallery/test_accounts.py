"""Accounts without a browser: sign-up, the login lockout (pages and API token), password reset
that does not tell who has an account, the profile, and deleting an account with its files."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.files.base import ContentFile
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from gallery import services
from gallery.models import Image, Visibility
from inference.models import ImageAnalysis
from search.services import similarity_query_from_photo
from tests.conftest import photo_bytes

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "pw-123456"  # make_user's


def login(client, username, password, ip="10.0.0.1"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def fail_login(client, username, times, ip="10.0.0.1"):
    return [login(client, username, "wrong-password", ip=ip).status_code for _ in range(times)]


def test_signup_with_optional_email_logs_in(client):
    response = client.post("/accounts/signup/", {
        "username": "alice", "email": "alice@example.org",
        "password1": "a-long-pass-phrase-42", "password2": "a-long-pass-phrase-42",
    })
    assert response.status_code == 302 and response["Location"] == "/mine/"
    assert User.objects.get(username="alice").email == "alice@example.org"
    assert client.get("/accounts/profile/").status_code == 200

    client.post("/accounts/logout/")
    response = client.post("/accounts/signup/", {
        "username": "bob", "password1": "a-long-pass-phrase-42", "password2": "a-long-pass-phrase-42",
    })
    assert response.status_code == 302
    assert User.objects.get(username="bob").email == ""


def test_login_page_locks_username_and_address_after_five_failures(client, make_user):
    make_user("carol")
    assert fail_login(client, "carol", 4) == [200, 200, 200, 200]
    locked = login(client, "carol", "wrong-password")
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) == 15 * 60
    text = locked.content.decode()
    assert "Too many failed log-ins" in text and "Try again in 15 minutes" in text

    # Even the right password is refused while locked out...
    assert login(client, "carol", PASSWORD).status_code == 429
    assert "_auth_user_id" not in client.session
    # ...but only for this username from this address: the owner elsewhere is not locked out,
    # and the attacker's address may still log in to other accounts.
    assert login(client, "carol", PASSWORD, ip="10.0.0.2").status_code == 302
    client.post("/accounts/logout/")
    make_user("dave")
    assert login(client, "dave", PASSWORD).status_code == 302


def test_lockout_ends_after_the_cool_off(client, make_user):
    make_user("erin")
    fail_login(client, "erin", 5)
    assert login(client, "erin", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert login(client, "erin", PASSWORD).status_code == 302


def test_correct_password_forgives_earlier_typos(client, make_user):
    make_user("frank")
    fail_login(client, "frank", 4)
    assert login(client, "frank", PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    assert fail_login(client, "frank", 4) == [200, 200, 200, 200]


def test_forwarded_for_counts_only_behind_configured_proxies(client, make_user, settings):
    make_user("olivia")

    def fail_via(forwarded_for: str) -> int:
        return client.post("/accounts/login/", {"username": "olivia", "password": "wrong"},
                           REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR=forwarded_for).status_code

    # No proxy configured: a made-up X-Forwarded-For per attempt does not escape the lockout.
    assert [fail_via(f"198.51.100.{n}") for n in range(5)] == [200, 200, 200, 200, 429]

    # One trusted proxy: it appended the real client, the right-most entry; what the client
    # wrote further left is ignored, and another client behind the same proxy is not locked out.
    AccessAttempt.objects.all().delete()
    settings.LOGIN_PROXY_COUNT = 1
    assert [fail_via(f"198.51.100.{n}, 203.0.113.5") for n in range(5)] == [200, 200, 200, 200, 429]
    assert fail_via("203.0.113.6") == 200
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.5", "203.0.113.6"}


def test_api_token_endpoint_is_rate_limited_like_the_login_page(make_user):
    make_user("mobile")
    api = APIClient(REMOTE_ADDR="10.0.0.9")
    bad = {"username": "mobile", "password": "wrong-password"}
    assert [api.post("/api/token/", bad).status_code for _ in range(4)] == [400, 400, 400, 400]
    locked = api.post("/api/token/", bad)
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "locked_out"
    assert int(locked["Retry-After"]) == 15 * 60
    good = {"username": "mobile", "password": PASSWORD}
    assert api.post("/api/token/", good).status_code == 429
    # The failures were counted by the same records the login page uses.
    assert AccessAttempt.objects.get(username="mobile", ip_address="10.0.0.9").failures_since_start >= 5

    elsewhere = APIClient(REMOTE_ADDR="10.0.0.10").post("/api/token/", good)
    assert elsewhere.status_code == 201 and elsewhere.json()["token"]


def test_password_reset_does_not_reveal_whether_an_account_exists(client, make_user):
    user = make_user("grace")
    user.email = "grace@example.org"
    user.save()
    known = client.post("/accounts/password_reset/", {"email": "grace@example.org"}, follow=True)
    unknown = client.post("/accounts/password_reset/", {"email": "nobody@example.org"}, follow=True)
    assert known.redirect_chain == unknown.redirect_chain == [("/accounts/password_reset/done/", 302)]
    assert known.content == unknown.content
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["grace@example.org"]


def test_password_reset_link_sets_a_new_password_and_lifts_the_lockout(client, make_user):
    user = make_user("heidi")
    user.email = "heidi@example.org"
    user.save()
    AuthToken.objects.create(user=user)
    fail_login(client, "heidi", 5)
    client.post("/accounts/password_reset/", {"email": "heidi@example.org"})
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", mail.outbox[0].body).group(1)

    form_page = client.get(link, follow=True)  # Django swaps the token for a session and redirects
    assert "Choose a new password" in form_page.content.decode()
    set_url = form_page.redirect_chain[-1][0]
    done = client.post(set_url, {"new_password1": "brand-new-phrase-7", "new_password2": "brand-new-phrase-7"})
    assert done.status_code == 302 and done["Location"] == "/accounts/reset/done/"

    assert login(client, "heidi", "brand-new-phrase-7").status_code == 302  # no longer locked out
    assert not AuthToken.objects.filter(user=user).exists()
    # The link works once.
    client.post("/accounts/logout/")
    assert "no longer works" in client.get(link, follow=True).content.decode()


def test_password_change_needs_the_old_password_and_ends_the_api_token(client, make_user):
    user = make_user("ivan")
    api = APIClient()
    token = api.post("/api/token/", {"username": "ivan", "password": PASSWORD}).json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/photos/").status_code == 200
    client.force_login(user)
    wrong = client.post("/accounts/password_change/", {
        "old_password": "nope", "new_password1": "another-phrase-9", "new_password2": "another-phrase-9"})
    assert wrong.status_code == 200 and "Your old password was entered incorrectly" in wrong.content.decode()
    right = client.post("/accounts/password_change/", {
        "old_password": PASSWORD, "new_password1": "another-phrase-9", "new_password2": "another-phrase-9"})
    assert right.status_code == 302 and right["Location"] == "/accounts/password_change/done/"
    user.refresh_from_db()
    assert user.check_password("another-phrase-9")
    assert client.get("/accounts/profile/").status_code == 200  # still logged in here
    refused = api.get("/api/v1/photos/")  # but the old token is gone
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "authentication_failed"


@pytest.fixture
def photo(django_capture_on_commit_callbacks):
    def create(owner, visibility=Visibility.PRIVATE, seed=0):
        with django_capture_on_commit_callbacks(execute=False):  # no analysis job for these
            return services.image_create(owner=owner, data=photo_bytes(seed), filename="p.jpg", visibility=visibility)
    return create


def test_profile_shows_counts_and_edits_email(client, make_user, photo):
    me = make_user("judy")
    photo(me, seed=1)
    photo(me, seed=2)
    photo(me, Visibility.PUBLIC, seed=3)
    photo(make_user(), Visibility.PUBLIC, seed=4)  # someone else's: not counted
    assert client.get("/accounts/profile/")["Location"].startswith("/accounts/login/")

    client.force_login(me)
    text = client.get("/accounts/profile/").content.decode()
    assert "judy" in text and "(2 private, 1 public)" in text

    bad = client.post("/accounts/profile/", {"email": "not-an-address"})
    assert bad.status_code == 200 and "Enter a valid email address" in bad.content.decode()
    assert client.post("/accounts/profile/", {"email": "judy@example.org"}).status_code == 302
    me.refresh_from_db()
    assert me.email == "judy@example.org"


def test_deleting_an_account_needs_its_password_and_removes_photos_and_files(
    client, make_user, photo, settings, django_capture_on_commit_callbacks
):
    me, other = make_user("mallory"), make_user("neighbour")
    mine = [photo(me, seed=5), photo(me, Visibility.PUBLIC, seed=6)]
    theirs = photo(other, seed=7)
    analysis = ImageAnalysis.objects.create(image=mine[0], model_version="test")
    analysis.overlay.save("overlay.png", ContentFile(b"png"), save=True)
    mine[1].display.save("display.jpg", ContentFile(b"jpeg"), save=True)
    with django_capture_on_commit_callbacks(execute=False):  # a search with an outside photo
        query = similarity_query_from_photo(owner=me, data=photo_bytes(8), filename="q.jpg")
    files = [image.file.name for image in mine] + [analysis.overlay.name, mine[1].display.name, query.file.name]
    storage = mine[0].file.storage
    assert all(storage.exists(name) for name in files)

    client.force_login(me)
    assert "all 2 of its photos" in client.get("/accounts/delete/").content.decode()
    wrong = client.post("/accounts/delete/", {"password": "nope"})
    assert wrong.status_code == 200 and "That is not your password" in wrong.content.decode()
    assert User.objects.filter(username="mallory").exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/delete/", {"password": PASSWORD}, follow=True)
    assert "The account mallory and its 2 photos are deleted" in response.content.decode()
    assert not User.objects.filter(username="mallory").exists()
    assert not Image.objects.filter(id__in=[image.id for image in mine]).exists()
    assert not any(storage.exists(name) for name in files)
    assert storage.exists(theirs.file.name) and Image.objects.filter(id=theirs.id).exists()
    assert "_auth_user_id" not in client.session
