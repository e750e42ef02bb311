"""`recgpt-stack api-key|keys|user-token`: each prints its value alone, works on the running platform's Redis,
and fails with one line, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
import redis

from gateway.auth.keys import ApiKey, KeyStore, Scope, split_presented
from gateway.settings import GatewaySettings
from recgpt_tools import run_state, stack, stack_auth
from recgpt_tools.processes import Started
from recgpt_tools.run_state import RunState
from recgpt_tools.stack_cli import status_line
from recgpt_tools.supervisor import Record


@dataclass(frozen=True)
class Ran:
    status: int
    out: str
    err: str


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RECGPT_STACK_VAR_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def running(var_dir: Path, redis_url: str, redis_prefix: str) -> Iterator[RunState]:
    """A run state naming the test Redis under a prefix of its own (deleted afterwards), as `up` writes it."""
    state = RunState(
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        catalogue_dir=var_dir / "catalogue",
        urls={"gateway": "http://127.0.0.1:1"},
        targets={},
        metrics_urls={},
        keys_file=var_dir / "auth" / stack_auth.DEV_KEYS_FILE,
    )
    run_state.write(var_dir / "run" / run_state.FILE_NAME, state)
    yield state
    client = redis.Redis.from_url(redis_url)
    stale = list(client.scan_iter(match=f"{redis_prefix}:*"))
    if stale:
        client.delete(*stale)
    client.close()


def _cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str) -> Ran:
    monkeypatch.setattr(sys, "argv", ["recgpt-stack", *argv])
    status = 0
    try:
        stack.main()
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    captured = capsys.readouterr()
    return Ran(status, captured.out, captured.err)


def _stored(state: RunState) -> dict[str, ApiKey]:
    client = redis.Redis.from_url(state.redis_url)
    try:
        raw = client.hgetall(KeyStore(client, state.redis_prefix).keys_key)  # type: ignore[arg-type]
    finally:
        client.close()
    return {key.key_id: key for key in (ApiKey.model_validate_json(record) for record in raw.values())}


def test_api_key_prints_the_development_or_the_admin_key(
    var_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = stack_auth.load_or_create_keys(var_dir / "auth" / stack_auth.DEV_KEYS_FILE)
    assert _cli(monkeypatch, capsys, "api-key") == Ran(0, keys.dev.presented + "\n", "")
    assert _cli(monkeypatch, capsys, "api-key", "--admin") == Ran(0, keys.admin.presented + "\n", "")


def test_api_key_before_any_start_says_what_makes_one(
    var_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = _cli(monkeypatch, capsys, "api-key")
    assert (ran.status, ran.out) == (1, "")
    assert ran.err.splitlines() == [f"[stack] no development keys in {var_dir}/auth/dev-keys.json: "
                                    "`make run` (recgpt-stack up) makes them"]  # fmt: skip


def test_keys_create_list_and_revoke_in_the_running_platforms_redis(
    running: RunState, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    created = _cli(
        monkeypatch, capsys,
        "keys", "create", "--name", "shop-web", "--scopes", "recommend,feed",
        "--rate", "5", "--burst", "10", "--user-tokens", "required",
    )  # fmt: skip
    assert created.status == 0
    presented = created.out.strip()
    parts = split_presented(presented)
    assert parts is not None and created.out == presented + "\n", "stdout is the key alone"
    key_id, secret = parts
    assert key_id in created.err and "shown only now" in created.err
    key = _stored(running)[key_id]
    assert (key.name, key.scopes) == ("shop-web", frozenset({Scope.RECOMMEND, Scope.FEED}))
    assert (key.rate_per_s, key.burst, key.user_tokens) == (5.0, 10, "required")
    assert key.matches(secret)

    listed = _cli(monkeypatch, capsys, "keys", "list")
    assert listed.status == 0
    header, row = listed.out.splitlines()
    assert header.split() == ["KEY_ID", "NAME", "SCOPES", "RATE/S", "BURST", "USER_TOKENS", "REVOKED"]
    assert row.split() == [key_id, "shop-web", "feed,recommend", "5", "10", "required", "no"]
    assert secret not in listed.out and key.secret_sha256 not in listed.out

    revoked = _cli(monkeypatch, capsys, "keys", "revoke", key_id)
    assert (revoked.status, revoked.out) == (0, "")
    assert _stored(running)[key_id].revoked
    assert _cli(monkeypatch, capsys, "keys", "list").out.splitlines()[1].split()[-1] == "yes"


def test_keys_errors_are_one_line(
    running: RunState, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    unknown = _cli(monkeypatch, capsys, "keys", "revoke", "0123456789abcdef")
    assert unknown.status == 1
    assert unknown.err.splitlines() == [
        "[stack] no key '0123456789abcdef' in the key store; `recgpt-stack keys list` shows them"
    ]
    bad_scope = _cli(monkeypatch, capsys, "keys", "create", "--name", "x", "--scopes", "recommend,everything")
    assert bad_scope.status == 2 and "unknown scopes ['everything']" in bad_scope.err
    bad_name = _cli(monkeypatch, capsys, "keys", "create", "--name", "has space", "--scopes", "feed")
    assert bad_name.status == 1 and bad_name.err.startswith("[stack] invalid key: name:")
    assert len(bad_name.err.splitlines()) == 1


def test_keys_without_a_running_platform_or_its_redis_is_one_line(
    var_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    down = _cli(monkeypatch, capsys, "keys", "list")
    assert down.status == 1 and "is the platform up?" in down.err and len(down.err.splitlines()) == 1
    gone = RunState(
        redis_url="redis://user:hunter2@127.0.0.1:1/0",
        redis_prefix="p",
        catalogue_dir=var_dir,
        urls={"gateway": "http://127.0.0.1:1"},
        targets={},
        metrics_urls={},
    )
    run_state.write(var_dir / "run" / run_state.FILE_NAME, gone)
    unreachable = _cli(monkeypatch, capsys, "keys", "list")
    assert unreachable.status == 1 and len(unreachable.err.splitlines()) == 1
    assert "redis://user:***@127.0.0.1:1/0" in unreachable.err and "hunter2" not in unreachable.err


def test_user_token_is_one_the_gateway_accepts(
    var_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RECGPT_USER_TOKEN_AUDIENCE", raising=False)
    monkeypatch.delenv("RECGPT_USER_TOKEN_ISSUER", raising=False)
    assert _cli(monkeypatch, capsys, "user-token", "U1").status == 1, "no secret before the first start"
    secret = stack_auth.load_or_create_secret(var_dir / "auth" / stack_auth.USER_TOKEN_SECRET_FILE)
    ran = _cli(monkeypatch, capsys, "user-token", "U1", "--ttl", "60")
    assert ran.status == 0
    defaults = GatewaySettings.model_fields
    claims = jwt.decode(
        ran.out.strip(),
        secret,
        algorithms=["HS256"],
        audience=defaults["user_token_audience"].default,
        issuer=defaults["user_token_issuer"].default,
    )
    assert claims["sub"] == "U1" and claims["exp"] - claims["iat"] == 60


def test_status_shows_the_pid_serving_now_its_restarts_and_last_exit() -> None:
    started = Started("retrieval", pid=100, start_ticks=1, log_file="var/log/retrieval.log")
    running = Record(pid=205, state="running", restarts=2, last_exit=-9, last_exit_at=1.0)
    line = status_line(started, True, running)
    assert line.running
    assert line.text.split() == [
        "retrieval", "pid", "205", "running", "restarts", "2", "(last", "exit", "-9", "(SIGKILL))",
        "log", "var/log/retrieval.log",
    ]  # fmt: skip
    waiting = Record(pid=None, state="backing off", restarts=2, last_exit=1, restart_at=2.0)
    line = status_line(started, True, waiting)
    assert not line.running and line.text.split()[2:7] == ["-", "restarting", "restarts", "2", "(last"]
    gone = status_line(started, False, running)
    assert not gone.running and gone.text.split()[2:4] == ["100", "exited"]
    # A process started without a supervisor (an earlier version's start): its own pid, no restarts.
    plain = status_line(started, True, None)
    assert plain.running and plain.text.split()[2:6] == ["100", "running", "restarts", "-"]
