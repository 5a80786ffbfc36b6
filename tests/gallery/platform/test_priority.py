"""Worker CPU priority: raised niceness, never lowered, inherited by what the process starts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gallery.platform.priority import session_group_niceness
from tests.conftest import ROOT


def run_python(code: str, *, start_niceness: int = 0, new_session: bool = False) -> str:
    # In a child process: niceness cannot be lowered again without privileges, so never touch this one.
    command = [sys.executable, "-c", code]
    if start_niceness:
        command = ["nice", "-n", str(start_niceness), *command]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60,
                            start_new_session=new_session)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


RAISE_AND_FORK = (
    "import os, subprocess, sys; from gallery.platform.priority import process_niceness_raise; "
    "print(process_niceness_raise(niceness=int(sys.argv[1]) if len(sys.argv) > 1 else {n})); "
    "print(subprocess.run(['sh', '-c', 'cut -d\" \" -f19 /proc/self/stat'], capture_output=True, text=True)"
    ".stdout.strip())"
)


def test_niceness_is_raised_and_inherited_by_children():
    own, child = run_python(RAISE_AND_FORK.format(n=10)).split()
    assert (int(own), int(child)) == (10, 10)


def test_a_higher_niceness_set_by_the_operator_is_kept():
    own, _ = run_python(RAISE_AND_FORK.format(n=5), start_niceness=15).split()
    assert int(own) == 15


def test_worker_init_lowers_the_priority_of_the_worker():
    code = ("import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'gallery.config.settings.base'; "
            "os.environ.pop('WORKER_NICENESS', None); "
            "from gallery.config.celery import worker_priority_lower; "
            "django.setup(); worker_priority_lower(); print(os.getpriority(os.PRIO_PROCESS, 0))")
    assert int(run_python(code)) == 10


def test_a_bulk_import_runs_at_the_workers_priority(tmp_path):
    code = ("import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'gallery.config.settings.base'; "
            "os.environ.pop('WORKER_NICENESS', None); django.setup(); "
            "from gallery.management.commands import import_images; "
            "from unittest import mock; "
            "user = mock.Mock(); "
            "p = mock.patch('gallery.management.commands.import_images.get_user_model'); m = p.start(); "
            "m.return_value.objects.filter.return_value.first.return_value = user; "
            f"import_images.Command().handle(directory=__import__('pathlib').Path({str(tmp_path)!r}), user='x', "
            "public=False, verbosity=0); print(os.getpriority(os.PRIO_PROCESS, 0))")
    assert run_python(code).splitlines()[-1] == "10"


RAISE_AND_READ_GROUP = (
    "from pathlib import Path; from gallery.platform.priority import process_niceness_raise; "
    "from gallery.platform.priority import session_group_niceness; "
    "process_niceness_raise(niceness=10); print(session_group_niceness())"
)
needs_autogroups = pytest.mark.skipif(session_group_niceness() is None,
                                      reason="no session autogroups here (kernel without them, or a CPU cgroup)")


@needs_autogroups
def test_a_session_leader_lowers_its_sessions_priority_too():
    """serve starts the worker in a session of its own: with autogroups the kernel shares the CPU
    between sessions before niceness counts, so the session's group must be niced as well."""
    assert run_python(RAISE_AND_READ_GROUP, new_session=True) == "10"


@needs_autogroups
def test_a_process_inside_someone_elses_session_leaves_the_session_alone():
    """A worker started from the shell the web runs in must not slow the web's session down."""
    before = session_group_niceness()
    assert run_python(RAISE_AND_READ_GROUP) == str(before)


@pytest.mark.parametrize("content", ["", "garbage\n"])
def test_an_empty_or_unreadable_session_group_leaves_the_process_niceness_working(content, monkeypatch):
    """In a container's CPU cgroup the kernel shows an empty autogroup file: the cgroup, not the
    session, is what the scheduler shares, so there is no group to raise and nothing may fail."""
    from pathlib import Path

    from gallery.platform import priority
    monkeypatch.setattr(Path, "read_text", lambda self, *args, **kwargs: content)
    monkeypatch.setattr(priority.os, "setpriority", lambda *args: None)  # keep this process's own
    assert priority.session_group_niceness() is None
    assert priority.session_group_niceness_raise(niceness=10) is None
    assert priority.process_niceness_raise(niceness=10) == priority.os.getpriority(priority.os.PRIO_PROCESS, 0)
