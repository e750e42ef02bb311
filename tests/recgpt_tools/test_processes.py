"""The launcher stops exactly the processes it recorded, and never a stranger with a recycled pid."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from recgpt_tools import processes

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_stop_ends_what_was_started_and_nothing_else(tmp_path: Path) -> None:
    run, logs = tmp_path / "run", tmp_path / "log"
    ours = processes.start("sleeper", SLEEPER, dict(os.environ), run, logs)
    stranger = subprocess.Popen(SLEEPER)
    try:
        assert [p.name for p in processes.recorded(run)] == ["sleeper"]
        assert processes.alive(ours)
        assert processes.stop(ours, run, timeout_s=5)
        assert not processes.alive(ours)
        assert stranger.poll() is None
        assert processes.recorded(run) == []
    finally:
        stranger.kill()
        stranger.wait()


def test_a_recycled_pid_is_not_ours(tmp_path: Path) -> None:
    run, logs = tmp_path / "run", tmp_path / "log"
    started = processes.start("sleeper", SLEEPER, dict(os.environ), run, logs)
    impostor = processes.Started(started.name, started.pid, started.start_ticks + 1, started.log_file)
    try:
        assert not processes.alive(impostor)
        assert not processes.stop(impostor, run, timeout_s=1)
        assert processes.alive(started)
    finally:
        processes.stop(started, run, timeout_s=5)


def test_a_process_that_exits_at_once_is_recorded_and_seen_as_gone(tmp_path: Path) -> None:
    run, logs = tmp_path / "run", tmp_path / "log"
    started = processes.start("quick", ["true"], dict(os.environ), run, logs)
    assert started.start_ticks > 0
    deadline = time.monotonic() + 5
    while processes.alive(started) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not processes.alive(started)
    assert not processes.stop(started, run, timeout_s=1)
