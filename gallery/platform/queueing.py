"""Queueing background work after commit, so that a broker outage never fails the request.

When the commit has happened the row and its files are kept whatever the broker says; raising
then would answer a server error for work that was in fact saved (and let a caller's clean-up
delete files under a live row). So a publish error is logged and handed to ``on_broker_down``;
Celery's publish retry is kept short in settings (CELERY_TASK_PUBLISH_RETRY_POLICY) so the
request does not hang meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction
from kombu.exceptions import OperationalError as KombuOperationalError

logger = logging.getLogger(__name__)


def task_enqueue_on_commit(task, *args: str, on_broker_down: Callable[[], None] | None = None) -> None:
    def publish() -> None:
        try:
            task.delay(*args)
        except (KombuOperationalError, OSError) as exc:
            logger.warning("broker unavailable, %s%s not queued: %s", task.name, args, exc)
            if on_broker_down is not None:
                on_broker_down()

    transaction.on_commit(publish)
