"""The jobs page's throughput: photos per minute over the time the workers were busy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from gallery.models import AnalysisStatus
from inference import selectors
from inference.models import ImageAnalysis
from tests.inference.test_reindex import photo_rows

pytestmark = pytest.mark.django_db


def finished(images, spans: list[tuple[float, float]], now) -> None:
    """Analyses that ran from ``start`` to ``end`` seconds before ``now``."""
    ImageAnalysis.objects.bulk_create([
        ImageAnalysis(image=image, model_version="v", status=AnalysisStatus.DONE,
                      started_at=now - timedelta(seconds=start), finished_at=now - timedelta(seconds=end))
        for image, (start, end) in zip(images, spans, strict=True)
    ])


def test_rate_is_over_the_busy_time_not_the_hour(make_user, admin_client):
    now = timezone.now()
    images = photo_rows(make_user(), 8)
    # Two workers side by side for 5 s (overlaps count once), a pause, then 3 photos in 2 s; one
    # analysis began before the hour, and only its last minute counts.
    finished(images[:4], [(600, 598), (599, 597), (598, 596), (597, 595)], now)
    finished(images[4:7], [(100, 99.5), (99.5, 99), (99, 98)], now)
    finished(images[7:], [(3700, 3540)], now)
    busy = selectors.analyses_busy_seconds(since=now - timedelta(hours=1))
    assert busy == pytest.approx(5 + 2 + 60, abs=0.5)

    jobs = selectors.jobs_overview()
    assert jobs.done_last_hour == 8
    assert jobs.per_minute_last_hour == pytest.approx(8 * 60 / jobs.busy_seconds_last_hour, abs=0.1)
    assert jobs.per_minute_last_hour > 7, "not 8 photos / 60 minutes"
    page = admin_client.get("/admin/inference/modelversion/jobs/").content.decode()
    assert f'<td class="per-minute">{jobs.per_minute_last_hour}</td>' in page


def test_no_work_no_rate(admin_client):
    jobs = selectors.jobs_overview()
    assert (jobs.busy_seconds_last_hour, jobs.per_minute_last_hour) == (0.0, 0.0)
