"""The catalogue's behaviour comes back when Redis loses it (`recgpt-import --follow`, the launcher's
`restore`), and only then: present behaviour, another catalogue's and a Redis that cannot answer are left
as they are."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from recgpt_domain.behaviour_store import BehaviourKeys
from recgpt_domain.catalogue import BEHAVIOUR_FILE, Interaction, UserHistory
from recgpt_domain.datasets import redis_loader
from recgpt_tools import registry
from recgpt_tools.behaviour_restore import BehaviourRestore, Found, follow
from recgpt_tools.import_cli import build_parser, main

HISTORIES = [
    UserHistory(user_id="u1", interactions=[Interaction(item_id="a", timestamp=1)]),
    UserHistory(user_id="u2", interactions=[Interaction(item_id="b"), Interaction(item_id="c")]),
]


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    folder = tmp_path / "catalogue"
    folder.mkdir()
    (folder / BEHAVIOUR_FILE).write_text("".join(h.model_dump_json() + "\n" for h in HISTORIES))
    return folder


@pytest.fixture
def client(redis_url: str, redis_prefix: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield connection
    finally:
        _wipe(connection, redis_prefix)
        connection.close()


def _wipe(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


def _users(client: redis.Redis, prefix: str) -> set[str]:
    return {str(member) for member in client.smembers(BehaviourKeys(prefix).users())}


def test_behaviour_lost_from_redis_is_loaded_again_and_present_behaviour_is_left_alone(
    client: redis.Redis, redis_prefix: str, catalogue: Path
) -> None:
    restore = BehaviourRestore(client, redis_prefix, catalogue)
    loaded = restore.check()
    assert (loaded.found, loaded.users, loaded.interactions) == (Found.LOADED, 2, 3)
    assert restore.check().found is Found.PRESENT
    _wipe(client, redis_prefix)
    assert _users(client, redis_prefix) == set()
    assert restore.check().found is Found.LOADED
    assert _users(client, redis_prefix) == {"u1", "u2"}
    assert client.lrange(BehaviourKeys(redis_prefix).log("u2"), 0, -1) == [
        i.model_dump_json() for i in HISTORIES[1].interactions
    ]
    # Someone imported another catalogue on purpose: it stays.
    client.set(redis_loader.marker_key(redis_prefix), "another")
    client.delete(BehaviourKeys(redis_prefix).users())
    assert restore.check().found is Found.OTHER_CATALOGUE
    assert _users(client, redis_prefix) == set()


class Waits:
    """`follow`'s wait: records each wait and says stop after `checks` checks."""

    def __init__(self, checks: int) -> None:
        self.checks = checks
        self.waited: list[float] = []

    def __call__(self, seconds: float) -> bool:
        self.waited.append(seconds)
        return len(self.waited) >= self.checks


def test_follow_says_each_change_once_and_waits_longer_while_redis_is_away(
    client: redis.Redis, redis_prefix: str, catalogue: Path
) -> None:
    said: list[str] = []
    waits = Waits(checks=3)
    follow(BehaviourRestore(client, redis_prefix, catalogue), said.append, waits, every_s=2)
    assert len(said) == 1 and "Redis held no behaviour" in said[0] and "3 interactions of 2 users" in said[0]
    assert waits.waited == [2, 2, 2]

    said.clear()
    away = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    waits = Waits(checks=6)
    follow(BehaviourRestore(away, redis_prefix, catalogue), said.append, waits, every_s=2)
    assert len(said) == 1 and said[0].startswith("cannot check or load the behaviour in Redis")
    assert waits.waited == [4, 8, 16, 30, 30, 30]


def test_follow_takes_the_catalogue_the_launcher_gives_and_needs_no_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    restore = registry.by_name("restore")
    addresses = registry.Addresses(registry.PROCESSES, host=lambda _: "h", overrides={})
    env = registry.service_env(restore, addresses, set(), {"catalogue": "/c", "index": "/i"}, None)
    assert env == {"RECGPT_CATALOGUE_DIR": "/c"}
    monkeypatch.setenv("RECGPT_CATALOGUE_DIR", "/c")
    assert isinstance(restore.command, registry.ConsoleScript)
    assert restore.command == registry.ConsoleScript("recgpt-import", ("--follow",))
    args = build_parser().parse_args(list(restore.command.args))
    assert (args.follow, args.source, args.out) == (True, None, Path("/c"))
    monkeypatch.delenv("RECGPT_CATALOGUE_DIR")
    for argv, problem in (
        (["--out", str(tmp_path)], "SOURCE_DIR is required unless --follow"),
        (["--follow"], "--out is required"),
        (["--follow", "--out", str(tmp_path), "--no-redis"], "not with --no-redis"),
    ):
        with pytest.raises(SystemExit):
            main(argv)
        assert problem in capsys.readouterr().err


def test_the_follower_runs_as_a_process_until_sigterm(
    redis_url: str, redis_prefix: str, client: redis.Redis, catalogue: Path, tmp_path: Path
) -> None:
    log = tmp_path / "restore.log"
    env = {**os.environ, "REDIS_URL": redis_url, "RECGPT_REDIS_PREFIX": redis_prefix}
    env["RECGPT_CATALOGUE_DIR"] = str(catalogue)
    command = [sys.executable, "-m", "recgpt_tools.import_cli", "--follow", "--every", "0.1"]
    with log.open("w") as out:
        follower = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while _users(client, redis_prefix) != {"u1", "u2"}:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
    finally:
        follower.send_signal(signal.SIGTERM)
        assert follower.wait(timeout=10) == 0, log.read_text()
    assert "loaded 3 interactions of 2 users" in log.read_text()
