"""Process CPU priority: background work yields the cores to people's requests."""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)


def process_niceness_raise(*, niceness: int) -> int:
    """Run this process (and every process it starts from now on) at least ``niceness`` (0-19).

    Never lowers a niceness already higher (an operator's ``nice`` wins), and raising it needs no
    privilege. Returns the niceness in effect.
    """
    current = os.getpriority(os.PRIO_PROCESS, 0)
    target = max(0, min(19, niceness))
    if target > current:
        os.setpriority(os.PRIO_PROCESS, 0, target)
        logger.info("worker niceness %d -> %d", current, target)
    return os.getpriority(os.PRIO_PROCESS, 0)
