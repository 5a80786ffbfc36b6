"""Poison photos: a photo whose analysis kills the worker process itself (out of memory, a crash
in a native decoder or in TensorFlow), with a real worker, broker and database.

Celery hands the job of a dead worker child back to the queue at once (acks_late with
CELERY_TASK_REJECT_ON_WORKER_LOST), so without a limit such a photo would kill every worker that
takes it, forever. It is started at most ANALYSIS_MAX_ATTEMPTS times, then marked failed with a
reason its owner can read; every other photo is analysed meanwhile; Retry starts it over; a search
with a region of it follows the same rule. The deaths are real SIGKILLs of the pool child, from
the test-only module tests.faults.poison, switched on in this worker alone.
"""

from __future__ import annotations

import pytest
from django.test import Client

from gallery import services
from gallery.models import AnalysisStatus
from inference.models import ImageAnalysis
from inference.services import analysis_gave_up_message
from search import services as search_services
from search.models import SimilarityQuery
from tests.conftest import photo_bytes, wait_for
from tests.faults.conftest import Workers, assert_each_analysed_exactly_once, logs
from tests.faults.poison import POISON_MARKER, SWITCH

pytestmark = pytest.mark.e2e

MAX_ATTEMPTS = 3  # the default of ANALYSIS_MAX_ATTEMPTS, set explicitly so the test states it
CHILD_KILLED = "exited with 'signal 9 (SIGKILL)'"  # what the worker logs when its pool child dies


def deaths(worker) -> int:
    return worker.log_path.read_text().count(CHILD_KILLED)


def test_a_photo_that_kills_its_worker_fails_after_max_attempts_and_the_queue_keeps_moving(
    workers, make_user, settings
):
    settings.ANALYSIS_MAX_ATTEMPTS = MAX_ATTEMPTS
    owner = make_user()
    # Queued first, so every photo after it waits behind it on the one worker process.
    poison = services.image_create(owner=owner, data=photo_bytes(90, size=(640, 480), comment=POISON_MARKER),
                                   filename="poison.jpg", title="poison")
    healthy = [services.image_create(owner=owner, data=photo_bytes(seed, size=(640, 480)), filename=f"{seed}.jpg")
               for seed in range(91, 94)]
    worker = workers.start(beat=False, include=("tests.faults.poison",),
                           env={"ANALYSIS_MAX_ATTEMPTS": str(MAX_ATTEMPTS), SWITCH: "1"})

    # Ends on DONE as well, so a poison switch that stopped firing fails the test at once, not at the timeout.
    ended = (AnalysisStatus.FAILED, AnalysisStatus.DONE)

    def poison_failed() -> bool:
        return Workers.died(worker) or ImageAnalysis.objects.filter(image=poison, status__in=ended).exists()

    def failed_after_max_attempts(expected_deaths: int) -> None:
        try:
            wait_for(poison_failed, timeout=600, interval=0.5, message="the poison photo to be given up")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{logs(workers)}") from None
        analysis = ImageAnalysis.objects.get(image=poison)
        assert (analysis.status, analysis.attempts) == (AnalysisStatus.FAILED, MAX_ATTEMPTS), logs(workers)
        assert analysis.error == analysis_gave_up_message(MAX_ATTEMPTS)
        poison.refresh_from_db()
        assert (poison.analysis_status, poison.analysis_error) == (AnalysisStatus.FAILED, analysis.error)
        # Each attempt really killed the worker's process; the one after the last was refused, not run.
        assert deaths(worker) == expected_deaths, logs(workers)

    failed_after_max_attempts(expected_deaths=MAX_ATTEMPTS)
    # The queue kept moving: every photo behind the poison one is analysed, once.
    assert_each_analysed_exactly_once([image.id for image in healthy], workers)

    # The owner presses Retry on the photo's page: the attempts start over, and it is given up again.
    page = Client()
    page.force_login(owner)
    assert page.post(f"/photos/{poison.id}/retry").status_code == 302
    failed_after_max_attempts(expected_deaths=2 * MAX_ATTEMPTS)

    # A search with a region of it follows the same rule (searches have their own attempts).
    query = search_services.similarity_query_from_region(owner=owner, image=poison, box=(0, 0, 320, 240))
    wait_for(lambda: Workers.died(worker) or SimilarityQuery.objects.filter(pk=query.pk, status__in=ended)
             .exists(), timeout=600, interval=0.5, message="the search on the poison photo to be given up")
    query.refresh_from_db()
    assert query.attempts == MAX_ATTEMPTS and query.error == search_services.query_gave_up_message(MAX_ATTEMPTS)
    assert deaths(worker) == 3 * MAX_ATTEMPTS, logs(workers)

    # And the worker still works.
    after = services.image_create(owner=owner, data=photo_bytes(95, size=(640, 480)), filename="after.jpg")
    assert_each_analysed_exactly_once([image.id for image in [*healthy, after]], workers)
