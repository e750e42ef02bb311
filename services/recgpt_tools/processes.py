"""Background processes that the launcher starts and later stops: exactly those, identified by pid file.

A process started with a restart policy runs under its own supervisor (recgpt_tools.supervisor): the pid
file then names the supervisor, whose process group holds the process it restarts, and
`<run>/supervision/<name>.json` what is running now, its restarts and its last exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from recgpt_tools import run_state, supervisor
from recgpt_tools.supervisor import RestartPolicy


@dataclass(frozen=True)
class Started:
    name: str
    pid: int
    # Kernel start time of the process, so a recycled pid is never mistaken for ours.
    start_ticks: int
    log_file: str


def start(
    name: str,
    command: list[str],
    env: dict[str, str],
    run_dir: Path,
    log_dir: Path,
    restart: RestartPolicy | None = None,
) -> Started:
    """Starts `command` in its own session with output to `log_dir/name.log`, recording it in run_dir;
    under a supervisor that restarts it when it exits if `restart` is given."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"{name}.log"
    if restart is not None:
        record = supervision_file(run_dir, name)
        record.unlink(missing_ok=True)
        command = [
            sys.executable, "-m", "recgpt_tools.supervisor",
            "--name", name,
            "--record", str(record),
            *restart.args(),
            "--", *command,
        ]  # fmt: skip
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    # Read while we still hold the unwaited child: even one that already exited is a zombie with a start time.
    stat = _stat(process.pid)
    if stat is None:
        raise RuntimeError(f"{name}: process {process.pid} vanished before it could be recorded")
    started = Started(name, process.pid, stat[1], str(log_file))
    (run_dir / f"{name}.json").write_text(json.dumps(started.__dict__))
    return started


def recorded(run_dir: Path) -> list[Started]:
    if not run_dir.is_dir():
        return []
    found = []
    for path in sorted(run_dir.glob("*.json")):
        if path.name == run_state.FILE_NAME:
            continue
        found.append(Started(**json.loads(path.read_text())))
    return found


def supervision_file(run_dir: Path, name: str) -> Path:
    return run_dir / "supervision" / f"{name}.json"


def supervision(run_dir: Path, name: str) -> supervisor.Record | None:
    """What the supervisor of `name` records; None for a process started without one (or not yet)."""
    return supervisor.read_record(supervision_file(run_dir, name))


def serving_pid(run_dir: Path, started: Started) -> int | None:
    """The pid of the process doing the work now: the one its supervisor runs (None while it waits to
    restart it), or `started` itself when it has no supervisor. What to profile or measure, not to stop."""
    record = supervision(run_dir, started.name)
    return started.pid if record is None else record.pid


def alive(started: Started) -> bool:
    stat = _stat(started.pid)
    return stat is not None and stat[0] != "Z" and stat[1] == started.start_ticks


def stop(started: Started, run_dir: Path, timeout_s: float = 20.0) -> bool:
    """SIGTERM to the process group we started, SIGKILL after `timeout_s`; True when it was running."""
    was_running = alive(started)
    if was_running:
        _signal_group(started.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while alive(started) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(started):
            _signal_group(started.pid, signal.SIGKILL)
    (run_dir / f"{started.name}.json").unlink(missing_ok=True)
    supervision_file(run_dir, started.name).unlink(missing_ok=True)
    return was_running


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _stat(pid: int) -> tuple[str, int] | None:
    """State and start time (fields 3 and 22 of /proc/<pid>/stat); None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0], int(fields[19])
