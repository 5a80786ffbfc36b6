"""Queueing background work after commit, so that a broker outage never fails the request; and
asking the broker how much work waits.

When the commit has happened the row and its files are kept whatever the broker says; raising
then would answer a server error for work that was in fact saved (and let a caller's clean-up
delete files under a live row). So a publish error is logged and handed to ``on_broker_down``;
Celery's publish retry is kept short in settings (CELERY_TASK_PUBLISH_RETRY_POLICY) so the
request does not hang meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import Task, current_app
from django.db import transaction
from kombu.exceptions import OperationalError as KombuOperationalError

logger = logging.getLogger(__name__)


def task_enqueue_on_commit(task: Task | str, *args: str, on_broker_down: Callable[[], None] | None = None) -> None:
    """Queue ``task`` with ``args`` once the current transaction commits. ``task`` may be a task's
    registered name: a web app queues a worker's task by name, without importing the worker's
    code; the routes in settings (CELERY_TASK_ROUTES) pick its queue either way."""
    name = task if isinstance(task, str) else task.name

    def publish() -> None:
        try:
            if isinstance(task, str):
                current_app.send_task(task, args=args)
            else:
                task.delay(*args)
        except (KombuOperationalError, OSError) as exc:
            logger.warning("broker unavailable, %s%s not queued: %s", name, args, exc)
            if on_broker_down is not None:
                on_broker_down()

    transaction.on_commit(publish)


def queue_lengths(queues: list[str]) -> tuple[dict[str, int | None], str]:
    """Messages waiting in each queue, asked of the broker itself (a passive declare counts a Redis
    queue's list, across its priority lists), and "" or the broker's error. Never raises: a down
    broker is something a dashboard must show, not crash on."""
    lengths: dict[str, int | None] = {}
    try:
        with current_app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1)
            channel = conn.default_channel
            for name in queues:
                try:
                    lengths[name] = channel.queue_declare(queue=name, passive=True).message_count
                except conn.channel_errors:
                    lengths[name] = 0  # never declared: nothing was ever queued there
    except Exception as exc:  # noqa: BLE001 - any broker failure is shown, not raised
        logger.warning("cannot read queue lengths from the broker: %s", exc)
        return dict.fromkeys(queues), f"{type(exc).__name__}: {exc}"
    return lengths, ""
