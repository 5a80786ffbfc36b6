"""Browser sessions are read from the cache (cached_db) and kept in PostgreSQL: a signed-in page
reads no session row, and losing the cache signs nobody out."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db


def session_queries(client: Client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return [q["sql"] for q in captured if "django_session" in q["sql"]]


def signed_in_as(client: Client) -> str:
    response = client.get("/mine/")
    return response.context["user"].username if response.status_code == 200 else ""


def test_a_signed_in_page_reads_its_session_from_the_cache(client, make_user):
    client.force_login(make_user("marta"))
    assert session_queries(client, "/mine/") == []
    assert signed_in_as(client) == "marta"


def test_a_lost_cache_signs_nobody_out(client, make_user):
    client.force_login(make_user("marta"))
    cache.clear()  # a Redis restart, or a failover to an empty replica
    assert session_queries(client, "/mine/"), "read from the database once"
    assert session_queries(client, "/mine/") == [], "and cached again"
    assert signed_in_as(client) == "marta"


def test_a_logged_out_session_is_gone_from_the_cache_too(make_user):
    browser = Client()
    browser.force_login(make_user("marta"))
    stolen = Client()  # the same cookie, copied before the log-out
    stolen.cookies[settings.SESSION_COOKIE_NAME] = browser.cookies[settings.SESSION_COOKIE_NAME].value
    assert signed_in_as(stolen) == "marta"
    browser.post("/accounts/logout/")
    assert stolen.get("/mine/").status_code == 302  # to the log-in page
