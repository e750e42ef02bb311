"""State survives its Redis: the launcher's Redis, killed with SIGKILL under a write load and restarted by
its supervisor, still holds every write acknowledged more than a second before the kill; wiped, it gets the
catalogue's behaviour back from `restore` within seconds, without a manual step."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from recgpt_domain.behaviour_store import BehaviourKeys
from recgpt_domain.datasets import redis_loader
from recgpt_tools import processes, redis_server, registry
from recgpt_tools.stack import Launch, Stack
from recgpt_tools.stack_settings import StackSettings
from tests.running_platform import free_stack_ports

pytestmark = pytest.mark.integration

PREFIX = "durable"
# The fsync window `everysec` documents: writes acknowledged within it before a power cut may be lost.
WINDOW_S = 1.0


def _until(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Polls until `condition` holds; returns how long that took."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, f"{what}: not within {timeout_s} s"
        time.sleep(0.02)
    return time.monotonic() - started


def _stack(tmp_path: Path, **overrides: object) -> Stack:
    settings = StackSettings.model_validate(
        {
            "var_dir": tmp_path / "var",
            "redis_url": None,
            "redis_prefix": PREFIX,
            "llm": False,
            "restart_backoff_s": 0.2,
            **free_stack_ports(),
            **overrides,
        }
    )
    return Stack(settings)


def _launch(stack: Stack, name: str) -> Launch:
    return next(launch for launch in stack.plan(stack.run_state()) if launch.process.name == name)


@dataclass
class Redis:
    """The launcher's Redis, started as `up` starts it: durable, under its supervisor."""

    stack: Stack
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def pid(self) -> int:
        record = processes.supervision(self.stack.paths.run, "redis")
        assert record is not None and record.pid is not None, "redis is not running"
        return record.pid

    def restarts(self) -> int:
        record = processes.supervision(self.stack.paths.run, "redis")
        return record.restarts if record is not None else 0

    def answers(self) -> bool:
        """PING and a read both answer: the append-only file is loaded."""
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        try:
            client.get(f"{PREFIX}:probe")
            return True
        except redis.RedisError:
            return False
        finally:
            client.close()


@pytest.fixture
def durable_redis(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Redis]:
    appendfsync = getattr(request, "param", "everysec")
    stack = _stack(tmp_path, redis_appendfsync=appendfsync)
    port = stack.addresses.port(registry.by_name("redis"))
    assert port is not None
    stack.start(_launch(stack, "redis"))
    try:
        started = Redis(stack, port)
        _until(started.answers, 10, "redis answers")
        yield started
    finally:
        stack.down()
    assert processes.recorded(stack.paths.run) == []


@dataclass
class Writer:
    """Writes one at a time, as the services do, and keeps each acknowledged write with when its reply
    came: events (XADD to a stream), preferences (a field of a hash per user), profiles (a key each)."""

    url: str
    acked: list[tuple[str, str, float]] = field(default_factory=list)
    failed: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        client = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=0.5)
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                kind, name = self._write(client, n)
            except redis.RedisError:
                self.failed += 1
                time.sleep(0.01)
                continue
            self.acked.append((kind, name, time.monotonic()))
        client.close()

    @staticmethod
    def _write(client: redis.Redis, n: int) -> tuple[str, str]:
        if n % 3 == 0:
            entry = client.xadd(f"{PREFIX}:events", {"n": str(n)})
            return "event", entry.decode() if isinstance(entry, bytes) else str(entry)
        if n % 3 == 1:
            client.hset(f"{PREFIX}:feed:prefs:u{n % 100}", f"n{n}", "1")
            return "preference", str(n)
        client.set(f"{PREFIX}:profile:{n}", "1")
        return "profile", str(n)


def _found(url: str, acked: list[tuple[str, str, float]]) -> set[tuple[str, str]]:
    """Which of the acknowledged writes Redis holds now."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        events = {str(entry) for entry, _ in client.xrange(f"{PREFIX}:events") or []}
        preferences = {
            str(field).removeprefix("n")
            for user in range(100)
            for field in client.hkeys(f"{PREFIX}:feed:prefs:u{user}")
        }
        profiles = [name for kind, name, _ in acked if kind == "profile"]
        present = client.mget([f"{PREFIX}:profile:{name}" for name in profiles]) if profiles else []
    finally:
        client.close()
    held = {("event", e) for e in events} | {("preference", p) for p in preferences}
    return held | {("profile", name) for name, value in zip(profiles, present, strict=True) if value}


@pytest.mark.parametrize("durable_redis", ["everysec", "always"], indirect=True)
def test_durable_redis_keeps_every_write_acknowledged_a_second_before_a_kill(durable_redis: Redis) -> None:
    writer = Writer(durable_redis.url)
    thread = threading.Thread(target=writer.run, daemon=True)
    thread.start()
    try:
        # Load for a while, so that most of it was acknowledged well over a second before the kill.
        _until(lambda: bool(writer.acked) and time.monotonic() - writer.acked[0][2] > 2.5, 10, "a load")
        killed = durable_redis.pid()
        kill_at = time.monotonic()
        os.kill(killed, signal.SIGKILL)
        _until(lambda: durable_redis.restarts() == 1, 10, "the supervisor restarts redis")
        # Acknowledgements read before this were sent by the killed process (a reply in flight when the
        # signal landed): they belong to its fsync window, not to the restarted redis.
        restarted_at = time.monotonic()
        _until(durable_redis.answers, 15, "the restarted redis answers")
        back_s = time.monotonic() - kill_at
        settled = len(writer.acked)
        _until(lambda: len(writer.acked) > settled + 100, 10, "writes are acknowledged again")
    finally:
        writer.stop.set()
        thread.join(timeout=10)
    assert durable_redis.pid() != killed

    found = _found(durable_redis.url, writer.acked)
    before = [(kind, name) for kind, name, at in writer.acked if at < kill_at - WINDOW_S]
    window = [(kind, name) for kind, name, at in writer.acked if kill_at - WINDOW_S <= at < restarted_at]
    after = [(kind, name) for kind, name, at in writer.acked if at >= restarted_at]
    lost_before = [write for write in before if write not in found]
    lost_window = [write for write in window if write not in found]
    lost_after = [write for write in after if write not in found]
    appendfsync = durable_redis.stack.settings.redis_appendfsync
    print(
        f"\nappendfsync {appendfsync}: {len(writer.acked)} writes acknowledged ({len(before)} more than "
        f"{WINDOW_S:g} s before the SIGKILL, {len(window)} within it, {len(after)} after the restart); "
        f"found after the restart: {len(before) - len(lost_before)} / {len(before)}, "
        f"{len(window) - len(lost_window)} / {len(window)}, {len(after) - len(lost_after)} / {len(after)}; "
        f"lost within the window: {len(lost_window)}; {writer.failed} writes refused while down; "
        f"answering again {back_s:.2f} s after the kill"
    )
    assert before and after
    assert not lost_before, (
        f"lost {len(lost_before)} writes acknowledged before the window: {lost_before[:5]}"
    )
    assert not lost_after
    log = (durable_redis.stack.paths.logs / "redis.log").read_text()
    assert "DB loaded from append only file" in log


def test_durable_redis_wiped_gets_the_behaviour_back_without_a_manual_step(
    tmp_path: Path, amazon_dir: Path
) -> None:
    stack = _stack(tmp_path, restart_backoff_s=0.2)
    state = stack.run_state()
    port = stack.addresses.port(registry.by_name("redis"))
    assert port is not None
    durable = Redis(stack, port)
    stack.start(_launch(stack, "redis"))
    client = redis.Redis.from_url(state.redis_url, decode_responses=True)
    users = BehaviourKeys(PREFIX).users()
    try:
        _until(durable.answers, 10, "redis answers")
        imported = subprocess.run(
            [str(Path(sys.executable).parent / "recgpt-import"), str(amazon_dir),
             "--out", str(stack.paths.catalogue), "--prefix", PREFIX, "--redis-url", state.redis_url],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert imported.returncode == 0, imported.stderr
        loaded = client.scard(users)
        assert loaded > 1000
        stack.start(_launch(stack, "restore"))
        restore_log = stack.paths.logs / "restore.log"
        _until(lambda: "the catalogue's, present" in restore_log.read_text(), 20, "restore follows")

        client.flushdb()
        back_s = _until(lambda: client.scard(users) == loaded, 30, "the behaviour is back")
        assert redis_loader.loaded_fingerprint(client, PREFIX) is not None
        print(f"\nbehaviour of {loaded} users back {back_s:.2f} s after FLUSHDB (checked every 2 s)")

        _until(lambda: "Redis held no behaviour" in restore_log.read_text(), 5, "restore says so")

        # Killed instead of wiped: the append-only file brings the behaviour back, its marker with it, so
        # `restore` finds it present and loads nothing.
        os.kill(durable.pid(), signal.SIGKILL)
        _until(lambda: durable.restarts() == 1 and durable.answers(), 15, "redis is back")
        assert client.scard(users) == loaded
        assert redis_loader.loaded_fingerprint(client, PREFIX) is not None
    finally:
        client.close()
        stack.down()
    assert processes.recorded(stack.paths.run) == []
    assert not redis_server.ping(port)
