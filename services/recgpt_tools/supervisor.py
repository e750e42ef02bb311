"""Keeps one process of the platform running: restarts it when it exits, as compose's `restart:` and
Kubernetes do, with a capped exponential backoff, and records its restarts and last exit for
`recgpt-stack status`.

    python -m recgpt_tools.supervisor --name retrieval --record RUN/supervision/retrieval.json -- CMD...

One supervisor per process (as runit's runsv), not one for the whole platform: it is the parent of what it
runs, so it learns each exit code from `wait()` rather than guessing from /proc; it shares its process group
with that child, so the launcher's group signal (recgpt_tools.processes.stop) ends both, and SIGKILL after
the grace period leaves nothing behind. On SIGTERM or SIGINT it passes the signal on to the child (so a
signal to the supervisor alone stops it too; ours, vLLM and Redis take a second SIGTERM as the first),
waits for it and exits without restarting. Should the supervisor itself die, the kernel sends its child
SIGTERM (PR_SET_PDEATHSIG), so that no orphan keeps a port.

Imports nothing but the standard library: it starts in a fraction of a second and holds about 15 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Literal

# prctl(2): the signal the kernel sends this process when its parent dies.
_PR_SET_PDEATHSIG = 1

State = Literal["running", "backing off", "stopping"]


@dataclass(frozen=True)
class RestartPolicy:
    """Restart after `initial_s`, doubling after each quick exit up to `max_s`; a run of `stable_s` or more
    counts as healthy and starts the doubling again."""

    initial_s: float = 1.0
    max_s: float = 30.0
    stable_s: float = 60.0

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.max_s:
            raise ValueError(f"backoff: need 0 < initial ({self.initial_s}) <= max ({self.max_s})")

    def delay_s(self, quick_exits: int) -> float:
        """The wait before the restart that follows `quick_exits` exits in a row that ran under `stable_s`."""
        return min(self.max_s, self.initial_s * 2.0 ** max(0, quick_exits - 1))

    def args(self) -> list[str]:
        return [
            "--backoff", f"{self.initial_s:g}",
            "--backoff-max", f"{self.max_s:g}",
            "--stable", f"{self.stable_s:g}",
        ]  # fmt: skip


@dataclass(frozen=True)
class Record:
    """What `status` shows of a supervised process, rewritten in one step at each start and exit."""

    # The process running now (None while backing off).
    pid: int | None
    state: State
    restarts: int = 0
    # Its last exit status as `Popen.returncode` gives it: negative for a signal (-9: SIGKILL).
    last_exit: int | None = None
    last_exit_at: float | None = None
    # When the next start is due while backing off (Unix time).
    restart_at: float | None = None


def write_record(path: Path, record: Record) -> None:
    """Replaces `path` in one step: a reader sees the old record or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as file:
        file.write(json.dumps(asdict(record)))
        temporary = Path(file.name)
    os.replace(temporary, path)


def read_record(path: Path) -> Record | None:
    """The record at `path`; None when there is none (not supervised, or not started yet)."""
    try:
        return Record(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None


def exit_text(code: int) -> str:
    """`1`, or `-9 (SIGKILL)` for a process a signal ended."""
    if code >= 0:
        return str(code)
    with contextlib.suppress(ValueError):
        return f"{code} ({signal.Signals(-code).name})"
    return str(code)


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM to it when the supervisor dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _say(name: str, message: str) -> None:
    sys.stderr.write(f"[supervisor] {name}: {message}\n")
    sys.stderr.flush()


class Supervisor:
    def __init__(self, name: str, command: list[str], record: Path, policy: RestartPolicy) -> None:
        self.name = name
        self.command = command
        self.record_path = record
        self.policy = policy
        self.stopping = False
        self.child: subprocess.Popen[bytes] | None = None
        self.record = Record(pid=None, state="running")

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        self._pass_on(signum)

    def _pass_on(self, signum: int) -> None:
        child = self.child
        if child is not None and child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

    def run(self) -> None:
        """Runs the command, again after each exit, until a signal stops us."""
        quick_exits = 0
        while not self.stopping:
            started = time.monotonic()
            code = self._run_once()
            if self.stopping:
                break
            ran_s = time.monotonic() - started
            quick_exits = 1 if ran_s >= self.policy.stable_s else quick_exits + 1
            delay = self.policy.delay_s(quick_exits)
            _say(self.name, f"exited with {exit_text(code)} after {ran_s:.1f} s; restarting in {delay:g} s")
            now = time.time()
            self._write(
                replace(
                    self.record,
                    pid=None,
                    state="backing off",
                    last_exit=code,
                    last_exit_at=now,
                    restart_at=now + delay,
                )
            )
            self._sleep(delay)
            if not self.stopping:
                self._write(replace(self.record, restarts=self.record.restarts + 1))
        self._write(replace(self.record, pid=None, state="stopping"))

    def _run_once(self) -> int:
        self.child = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        if self.stopping:
            # The signal came while it was being started: it never saw it.
            self._pass_on(signal.SIGTERM)
        self._write(replace(self.record, pid=self.child.pid, state="running", restart_at=None))
        return self.child.wait()

    def _sleep(self, seconds: float) -> None:
        """Sleeps in short steps, so that a signal ends the wait at once."""
        deadline = time.monotonic() + seconds
        while not self.stopping and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(0.05, left))

    def _write(self, record: Record) -> None:
        self.record = record
        write_record(self.record_path, record)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recgpt_tools.supervisor", description=__doc__)
    parser.add_argument("--name", required=True, help="the process's name, for the log")
    parser.add_argument("--record", type=Path, required=True, help="where its restarts are recorded")
    parser.add_argument("--backoff", type=float, default=RestartPolicy.initial_s, help="first wait, s")
    parser.add_argument("--backoff-max", type=float, default=RestartPolicy.max_s, help="longest wait, s")
    parser.add_argument("--stable", type=float, default=RestartPolicy.stable_s, help="a healthy run, s")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to supervise")
    try:
        policy = RestartPolicy(args.backoff, args.backoff_max, args.stable)
    except ValueError as error:
        parser.error(str(error))
    supervisor = Supervisor(args.name, command, args.record, policy)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, supervisor.on_signal)
    supervisor.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
