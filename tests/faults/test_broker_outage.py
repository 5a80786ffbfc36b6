"""The broker (the real embedded redis-server) stops while people upload: every upload still
succeeds at once, and every photo is analysed, exactly once, when the broker is back."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from knox.models import AuthToken

from gallery.models import AnalysisStatus
from gallery.platform import embedded
from search.models import SimilarityQuery
from search.services import BROKER_DOWN
from tests.conftest import photo_bytes, wait_for
from tests.faults.conftest import assert_each_analysed_exactly_once

pytestmark = pytest.mark.e2e

UPLOADS = 14
OUTAGE_AFTER, BACK_AFTER = 3, 10  # the broker stops after the 3rd answer and returns after the 10th


def redis_socket(broker_url: str) -> Path:
    if not broker_url.startswith("redis+socket://"):
        pytest.skip("CELERY_BROKER_URL points elsewhere: this test stops and starts the embedded Redis")
    return Path(broker_url.removeprefix("redis+socket://").split("?")[0])


def test_uploads_during_a_broker_outage_succeed_and_are_analysed_when_it_returns(
    workers, live_server, settings, make_user, caplog
):
    sock = redis_socket(settings.CELERY_BROKER_URL)
    worker = workers.start(beat=True)
    workers.wait_ready(worker)
    uploader_user = make_user()
    _, token_key = AuthToken.objects.create(user=uploader_user)
    answers: list[tuple[int, float, str]] = []

    def upload_all():
        with requests.Session() as session:
            session.headers["Authorization"] = f"Token {token_key}"
            for seed in range(UPLOADS):
                started = time.monotonic()
                response = session.post(f"{live_server.url}/api/v1/photos/", timeout=60,
                                        files={"file": (f"{seed}.jpg", photo_bytes(seed, size=(640, 480)))})
                answers.append((response.status_code, time.monotonic() - started,
                                response.json().get("id", response.text[:300])))
                time.sleep(0.2)

    uploader = threading.Thread(target=upload_all)
    uploader.start()
    try:
        wait_for(lambda: len(answers) >= OUTAGE_AFTER, timeout=120, message="the first uploads")
        embedded._redis_stop(sock)
        assert not embedded._redis_answers(sock), "the broker did not stop"
        for path in ("/", "/accounts/login/", "/api/v1/public/photos/"):  # reading needs no broker either
            assert requests.get(f"{live_server.url}{path}", timeout=30).status_code == 200, path
        # A search with an outside photo cannot run without the broker: it says so, not a 500.
        searcher = Client()
        searcher.force_login(uploader_user)
        response = searcher.post("/search/", {"photo": SimpleUploadedFile("q.jpg", photo_bytes(99))})
        assert response.status_code == 302, response.status_code
        query = SimilarityQuery.objects.get(owner=uploader_user)
        assert query.status == AnalysisStatus.FAILED and query.error == BROKER_DOWN
        assert searcher.get(response["Location"]).status_code == 200
        wait_for(lambda: len(answers) >= BACK_AFTER, timeout=120, message="uploads during the outage")
    finally:
        if not embedded._redis_answers(sock):
            embedded._redis_start(sock.parent, sock)
        uploader.join(timeout=300)

    assert [status for status, _, _ in answers] == [201] * UPLOADS, answers
    during = answers[OUTAGE_AFTER:BACK_AFTER]
    # The publish retry is short: an outage costs an upload about a second, never a hang.
    assert max(seconds for _, seconds, _ in during) < 10, during
    assert "broker unavailable" in caplog.text, "no upload met the outage"
    assert_each_analysed_exactly_once([image_id for _, _, image_id in answers], workers)


def test_the_cache_reads_as_empty_while_its_redis_is_unreachable(tmp_path, caplog, monkeypatch):
    from gallery.platform.cache import FailOpenRedisCache

    monkeypatch.setattr("gallery.platform.cache._last_logged", 0.0)  # as if nothing was logged this minute
    cache = FailOpenRedisCache(f"unix://{tmp_path / 'no-redis.sock'}?db=1", {})
    assert cache.get("throttle", "default") == "default"
    assert cache.get_many(["a", "b"]) == {}
    cache.set("throttle", [1, 2, 3])  # dropped, not raised
    assert cache.add("lock", 1) is False and cache.has_key("lock") is False
    with pytest.raises(ValueError):
        cache.incr("counter")
    assert caplog.text.count("cache unavailable") == 1, "logged once, not once per call"
