"""The e2e fixtures' process handling: a stopped process takes everything it started with it (the
scheduler's ``airflow serve-logs`` child outlived ``terminate()`` of the scheduler before)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests._support.processes import kill_now, start_process, stop_processes

# A parent that starts two children (one in its own session, one that ignores SIGTERM, as a log
# server busy in a request may), prints their pids, and waits.
PARENT = """
import json, signal, subprocess, sys, time
stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"
a = subprocess.Popen([sys.executable, "-c", stubborn])
b = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
print(json.dumps([a.pid, b.pid]), flush=True)
time.sleep(300)
"""


def _start_parent(tmp_path: Path) -> tuple[subprocess.Popen[bytes], list[int]]:
    log = tmp_path / "parent.log"
    proc = start_process([sys.executable, "-c", PARENT], {}, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = log.read_text()
        if text.strip():
            children: list[int] = json.loads(text.splitlines()[0])
            # A child is in the tree once it has run its first line.
            time.sleep(0.5)
            return proc, children
        time.sleep(0.05)
    raise AssertionError("the parent did not start its children")


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_start_process_gets_its_own_process_group(tmp_path: Path) -> None:
    proc, children = _start_parent(tmp_path)
    try:
        assert os.getpgid(proc.pid) == proc.pid != os.getpgid(0)
        assert os.getpgid(children[0]) == proc.pid
    finally:
        stop_processes([proc], timeout=1)


def test_stop_processes_stops_children_that_ignore_sigterm_or_left_the_group(tmp_path: Path) -> None:
    proc, children = _start_parent(tmp_path)
    stop_processes([proc], timeout=1)
    assert proc.poll() is not None
    assert all(_gone(pid) for pid in children), children


def test_terminate_alone_would_leave_the_children_running(tmp_path: Path) -> None:
    """What the fixture did before: the control case for the test above."""
    proc, children = _start_parent(tmp_path)
    try:
        proc.terminate()
        proc.wait(timeout=10)
        time.sleep(0.5)
        assert not any(_gone(pid) for pid in children)
    finally:
        for pid in children:
            psutil.Process(pid).kill()


def test_kill_now_kills_the_whole_tree(tmp_path: Path) -> None:
    proc, children = _start_parent(tmp_path)
    killed = kill_now(proc)
    assert set(children) | {proc.pid} <= set(killed)
    assert proc.returncode == -9
    assert all(_gone(pid) for pid in children)


def test_stop_processes_fails_when_a_process_survives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc, _ = _start_parent(tmp_path)
    try:
        # A process that no signal reaches (as one in uninterruptible sleep): the fixture must say so.
        monkeypatch.setattr(psutil.Process, "kill", lambda self: None)
        monkeypatch.setattr("tests._support.processes._signal_group", lambda pgid, sig: None)
        with pytest.raises(AssertionError, match="left running"):
            stop_processes([proc], timeout=0.5, kill_wait=0.5)
    finally:
        monkeypatch.undo()
        stop_processes([proc], timeout=1)
