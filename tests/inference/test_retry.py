"""Retry eligibility is one rule (inference.services.analysis_retry) behind every door: the photo
page, the API, the admin action and the jobs page. It restarts failed, waiting and stuck analyses
with their attempts from zero, and refuses done and running ones with a reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from gallery.models import AnalysisStatus, Image
from inference import services
from inference.configuration import configured_model_version
from inference.models import ImageAnalysis
from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def sending(django_capture_on_commit_callbacks):
    """``with sending() as sent:`` collects the jobs sent to the broker meanwhile (not sent)."""
    return lambda: django_capture_on_commit_callbacks(execute=False)


def api_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def analysis_in(photo, make_user):
    """A photo of ``owner`` whose analysis (of the version the workers build) is in ``status``."""
    services.model_version_register(name=configured_model_version(), seen_by_workers=True)

    def make(status: str, *, owner=None, started_ago: float = 5, attempts: int = 3) -> ImageAnalysis:
        image = photo(owner=owner or make_user())
        error = "boom" if status == "failed" else ""
        Image.objects.filter(pk=image.pk).update(analysis_status=status, analysis_error=error)
        return ImageAnalysis.objects.create(
            image=image, model_version=configured_model_version(), status=status, attempts=attempts,
            error="boom" if status == AnalysisStatus.FAILED else "",
            started_at=timezone.now() - timedelta(seconds=started_ago))

    return make


@pytest.mark.parametrize("status, started_ago", [(AnalysisStatus.FAILED, 5), (AnalysisStatus.PENDING, 5),
                                                 (AnalysisStatus.RUNNING, 10_000)], ids=["failed", "pending", "stuck"])
def test_failed_waiting_and_stuck_analyses_start_over(status, started_ago, analysis_in, sending):
    analysis = analysis_in(status, started_ago=started_ago)
    with sending() as sent:
        assert services.analysis_retry(analysis=analysis) is True
    analysis.refresh_from_db()
    assert (analysis.status, analysis.attempts, analysis.error) == (AnalysisStatus.PENDING, 0, "")
    assert Image.objects.get(pk=analysis.image_id).analysis_status == AnalysisStatus.PENDING
    assert len(sent) == 1


@pytest.mark.parametrize("status, reason", [(AnalysisStatus.DONE, "already analysed"),
                                            (AnalysisStatus.RUNNING, "being analysed right now")])
def test_done_and_running_analyses_are_refused_with_a_reason(status, reason, analysis_in, sending):
    analysis = analysis_in(status, attempts=1)
    with sending() as sent, pytest.raises(services.RetryRefused, match=reason):
        services.analysis_retry(analysis=analysis)
    analysis.refresh_from_db()
    assert (analysis.status, analysis.attempts) == (status, 1), "left as it was"
    assert sent == []


def test_photo_page_retries_through_the_rule(analysis_in, sending):
    failed, done = analysis_in(AnalysisStatus.FAILED), analysis_in(AnalysisStatus.DONE)
    client = Client()
    client.force_login(failed.image.owner)
    with sending() as sent:
        response = client.post(f"/photos/{failed.image_id}/retry")
    assert response.status_code == 302 and len(sent) == 1
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Analysis queued again."]
    client = Client()
    client.force_login(done.image.owner)
    with sending() as sent:
        response = client.post(f"/photos/{done.image_id}/retry")
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "This photo is already analysed; there is nothing to retry."]
    assert sent == []


def test_api_retries_through_the_rule(analysis_in, sending, make_user):
    failed, running = analysis_in(AnalysisStatus.FAILED), analysis_in(AnalysisStatus.RUNNING)
    with sending() as sent:
        response = api_client(failed.image.owner).post(f"/api/v1/photos/{failed.image_id}/retry/")
    assert response.status_code == 202, response.content
    assert response.json()["analysis_status"] == "pending" and response.json()["analysis"]["error"] == ""
    assert len(sent) == 1
    with sending() as sent:
        error = assert_error(api_client(running.image.owner).post(f"/api/v1/photos/{running.image_id}/retry/"),
                             409, "not_retryable")
        # Someone else's photo is not theirs to retry, and not even there.
        assert_error(api_client(make_user()).post(f"/api/v1/photos/{failed.image_id}/retry/"), 404)
    assert "being analysed right now" in error["message"]
    assert sent == []


def test_admin_action_and_jobs_page_retry_through_the_rule(admin_client, analysis_in, sending):
    failed, done, running = (analysis_in(s) for s in (AnalysisStatus.FAILED, AnalysisStatus.DONE,
                                                       AnalysisStatus.RUNNING))
    with sending() as sent:
        response = admin_client.post("/admin/inference/imageanalysis/", follow=True, data={
            "action": "retry", "_selected_action": [failed.pk, done.pk, running.pk]})
    page = response.content.decode()
    assert "Queued 1 analysis(es) again." in page
    assert "1 not retried: This photo is already analysed" in page
    assert "1 not retried: This photo is being analysed right now" in page
    assert len(sent) == 1
    done.refresh_from_db()
    assert done.status == AnalysisStatus.DONE

    with sending() as sent:
        response = admin_client.post(f"/admin/inference/modelversion/jobs/retry/{running.pk}/", follow=True)
    assert "is being analysed right now; wait for it to finish." in response.content.decode()
    assert sent == []
