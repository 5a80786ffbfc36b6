"""kill -9 during an analysis: the photo is analysed again, once, and nothing else is lost.

Two ways to die: the pool child that runs the task (the worker's parent sees it go and, with
acks_late and reject_on_worker_lost, puts the message back), and the whole worker with its parent
(the message stays unacknowledged in Redis; the sweep finds the analysis stuck in "running" and
queues it again for the next worker).
"""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from gallery import services
from gallery.models import AnalysisStatus
from inference.models import ImageAnalysis
from tests.conftest import photo_bytes, wait_for
from tests.faults.conftest import Workers, assert_each_analysed_exactly_once, logs

pytestmark = pytest.mark.e2e

PHOTOS = 6


def freeze_during_an_analysis(worker, target_pids) -> list[str]:
    """Stop the worker's processes while an analysis is running; return the running photo ids.

    SIGSTOP first, then look: the kill then lands mid-analysis for certain, not just after one.
    """
    for _ in range(20):
        wait_for(lambda: Workers.died(worker) or ImageAnalysis.objects.filter(status=AnalysisStatus.RUNNING).exists(),
                 timeout=300, interval=0.01, message="an analysis to start")
        pids = target_pids()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        running = [str(i) for i in ImageAnalysis.objects.filter(status=AnalysisStatus.RUNNING)
                   .values_list("image_id", flat=True)]
        if running:
            return running
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    raise AssertionError("never caught the worker in the middle of an analysis")


@pytest.mark.parametrize("victim", ["pool child", "whole worker"])
def test_worker_killed_mid_analysis_every_photo_analysed_exactly_once(victim, workers, make_user):
    owner = make_user()
    # Large enough that an analysis takes a moment to catch; queued at once (autocommit here).
    images = [services.image_create(owner=owner, data=photo_bytes(seed, size=(2400, 1800)), filename=f"{seed}.jpg")
              for seed in range(PHOTOS)]
    worker = workers.start(beat=victim == "whole worker")

    def pool_children() -> list[int]:
        return [child.pid for child in psutil.Process(worker.pid).children(recursive=True)]

    def whole_group() -> list[int]:
        return [worker.pid, *pool_children()]

    try:
        running = freeze_during_an_analysis(worker, pool_children if victim == "pool child" else whole_group)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{logs(workers)}") from None
    if victim == "pool child":
        for pid in pool_children():
            os.kill(pid, signal.SIGKILL)
    else:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        workers.start(beat=True)  # a new worker; its sweep finds the analysis stuck in "running"

    assert_each_analysed_exactly_once([image.id for image in images], workers)
    killed = ImageAnalysis.objects.get(image_id=running[0])
    assert killed.attempts >= 2, "the killed analysis must have been run again"
    assert killed.error == ""
