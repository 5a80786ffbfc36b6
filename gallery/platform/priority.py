"""Process CPU priority: background work yields the cores to people's requests."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

logger = logging.getLogger(__name__)

# Linux's scheduler group for this process's session ("/autogroup-123 nice 0"), where the kernel
# has them (CONFIG_SCHED_AUTOGROUP; on by default in most distributions' kernels).
AUTOGROUP = Path("/proc/self/autogroup")
AUTOGROUP_LINE = re.compile(r"/autogroup-\d+ nice (-?\d+)")


def session_group_niceness(pid: int | str = "self") -> int | None:
    """The niceness of ``pid``'s session scheduler group; None where autogroups do not apply.

    The file is missing on kernels without autogroups and empty where the process sits in a CPU
    cgroup of its own (containers, systemd slices with CPU accounting): there the cgroup, not the
    session, is what the scheduler shares between.
    """
    try:
        match = AUTOGROUP_LINE.match(Path(f"/proc/{pid}/autogroup").read_text())
    except OSError:
        return None
    return int(match.group(1)) if match else None


def process_niceness_raise(*, niceness: int) -> int:
    """Run this process (and every process it starts from now on) at least ``niceness`` (0-19).

    Never lowers a niceness already higher (an operator's ``nice`` wins), and raising it needs no
    privilege. A session leader raises its session's scheduler group too (below). Returns the
    niceness in effect.
    """
    current = os.getpriority(os.PRIO_PROCESS, 0)
    target = max(0, min(19, niceness))
    if target > current:
        os.setpriority(os.PRIO_PROCESS, 0, target)
        logger.info("worker niceness %d -> %d", current, target)
    session_group_niceness_raise(niceness=target)
    return os.getpriority(os.PRIO_PROCESS, 0)


def session_group_niceness_raise(*, niceness: int) -> int | None:
    """Raise the niceness of this session's scheduler group (Linux autogroups) to ``niceness``,
    when this process leads its session. Returns the group's niceness, None where there is none.

    With autogroups on, the kernel first shares the CPU equally between sessions and only then
    by niceness inside each one, so a process's niceness ranks it only against its own session.
    `serve`, the topology test and the benches start the web and the worker each in a session of
    its own: there a niced worker still took half the cores from the web (bench/load.py
    --realistic, README "Under load"). The group's own niceness ranks sessions. It is raised only
    by a session leader, whose group holds nothing but itself and what it starts: a worker started
    from a shell beside the web must not slow the web down with it.
    """
    current = session_group_niceness()
    if current is None:
        return None
    if niceness <= current or os.getsid(0) != os.getpid():
        return current
    try:
        AUTOGROUP.write_text(str(niceness))
    except OSError as error:  # EAGAIN: the kernel allows one change in 100 ms
        logger.warning("session niceness stays %d: %s", current, error)
        return current
    logger.info("session niceness %d -> %d", current, niceness)
    return niceness
