"""A supervised process comes back when it exits, with a backoff that grows and is capped; its restarts and
last exit are recorded; stopping it stops its supervisor too, and nothing is restarted or left behind."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from recgpt_tools import processes, supervisor
from recgpt_tools.supervisor import Record, RestartPolicy

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
QUICK = RestartPolicy(initial_s=0.05, max_s=0.2)


def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _pid_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie of ours does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _running(run: Path, name: str) -> tuple[int, Record]:
    """The pid of the process once it runs, and its record then."""
    found: list[tuple[int, Record]] = []

    def running() -> bool:
        record = processes.supervision(run, name)
        if record is None or record.state != "running" or record.pid is None:
            return False
        found.append((record.pid, record))
        return True

    _until(running)
    return found[-1]


def test_the_backoff_doubles_up_to_its_cap() -> None:
    policy = RestartPolicy(initial_s=1.0, max_s=30.0)
    assert [policy.delay_s(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    with pytest.raises(ValueError, match="initial"):
        RestartPolicy(initial_s=5, max_s=1)
    assert supervisor.exit_text(-9) == "-9 (SIGKILL)" and supervisor.exit_text(3) == "3"


def test_a_killed_process_comes_back_and_its_restart_is_recorded(tmp_path: Path) -> None:
    run, logs = tmp_path / "run", tmp_path / "log"
    started = processes.start("sleeper", SLEEPER, dict(os.environ), run, logs, restart=QUICK)
    try:
        first, record = _running(run, "sleeper")
        assert first != started.pid and record.restarts == 0 and record.last_exit is None
        assert processes.serving_pid(run, started) == first
        os.kill(first, signal.SIGKILL)
        _until(lambda: (r := processes.supervision(run, "sleeper")) is not None and r.restarts == 1)
        second, record = _running(run, "sleeper")
        assert second != first and _pid_alive(second)
        assert (record.restarts, record.last_exit) == (1, -9)
        assert "sleeper: exited with -9 (SIGKILL)" in (logs / "sleeper.log").read_text()
    finally:
        assert processes.stop(started, run, timeout_s=5)
    # The supervisor went first and restarted nothing: neither it nor its process runs.
    assert not processes.alive(started) and not _pid_alive(second)
    assert processes.supervision(run, "sleeper") is None and processes.recorded(run) == []


def test_a_process_that_keeps_failing_is_restarted_with_growing_waits(tmp_path: Path) -> None:
    run, logs = tmp_path / "run", tmp_path / "log"
    failing = [sys.executable, "-c", "raise SystemExit(3)"]
    started = processes.start("failing", failing, dict(os.environ), run, logs, restart=QUICK)
    try:
        _until(lambda: (r := processes.supervision(run, "failing")) is not None and r.restarts >= 3)
        record = processes.supervision(run, "failing")
        assert record is not None and record.last_exit == 3
        waits = [
            line.rsplit("restarting in ", 1)[1]
            for line in (logs / "failing.log").read_text().splitlines()
            if "restarting in" in line
        ]
        assert waits[:3] == ["0.05 s", "0.1 s", "0.2 s"]
    finally:
        processes.stop(started, run, timeout_s=5)
    assert processes.recorded(run) == []


def test_a_supervisor_that_dies_takes_its_process_with_it(tmp_path: Path) -> None:
    """Its process would otherwise keep its port, unrecorded, past the next `make stop`."""
    run, logs = tmp_path / "run", tmp_path / "log"
    started = processes.start("sleeper", SLEEPER, dict(os.environ), run, logs, restart=QUICK)
    child, _ = _running(run, "sleeper")
    try:
        os.kill(started.pid, signal.SIGKILL)
        _until(lambda: not _pid_alive(child))
    finally:
        processes.stop(started, run, timeout_s=5)


def test_a_process_that_ignores_sigterm_is_killed_with_its_supervisor(tmp_path: Path) -> None:
    run, logs = tmp_path / "run", tmp_path / "log"
    stubborn = [
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)",
    ]
    started = processes.start("stubborn", stubborn, dict(os.environ), run, logs, restart=QUICK)
    child, _ = _running(run, "stubborn")
    assert processes.stop(started, run, timeout_s=0.5)
    _until(lambda: not _pid_alive(child) and not processes.alive(started))
