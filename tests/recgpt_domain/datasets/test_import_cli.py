"""`recgpt-import`: summary, skipping when fresh, one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from recgpt_domain.behaviour_store import BehaviourKeys
from recgpt_domain.catalogue import iter_histories, read_manifest
from recgpt_tools.import_cli import main
from tests.recgpt_domain.datasets.dataset_subsets import replace_line


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as caught:
        main(argv)
        raise SystemExit(0)
    return int(caught.value.code or 0)


async def test_import_then_skip_when_fresh(
    small_movielens: Path,
    tmp_path: Path,
    redis_url: str,
    redis_prefix: str,
    redis_client: aioredis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "catalogue"
    argv = [str(small_movielens), "--out", str(out), "--redis-url", redis_url, "--prefix", redis_prefix]
    assert _run([*argv, "--skip-if-fresh"]) == 0
    printed = capsys.readouterr().out
    assert "imported movielens dataset" in printed and "5 users" in printed
    assert "loaded" in printed and "interactions of 5 users into Redis" in printed
    assert await redis_client.scard(BehaviourKeys(redis_prefix).users()) == 5
    created = read_manifest(out).created_at_unix

    assert _run([*argv, "--skip-if-fresh"]) == 0
    printed = capsys.readouterr().out
    assert "import skipped" in printed and "load skipped" in printed
    assert read_manifest(out).created_at_unix == created

    # A changed source is imported again, and Redis follows.
    replace_line(small_movielens / "ratings.csv", 2, "1,31,4.5,1260759144")
    assert _run([*argv, "--skip-if-fresh"]) == 0
    printed = capsys.readouterr().out
    assert "import skipped" not in printed and "load skipped" not in printed


async def test_no_redis_writes_the_catalogue_only(
    small_unisrec: Path,
    tmp_path: Path,
    redis_prefix: str,
    redis_client: aioredis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    out = tmp_path / "catalogue"
    assert _run([str(small_unisrec), "--out", str(out), "--no-redis", "--prefix", redis_prefix]) == 0
    assert "imported unisrec dataset" in capsys.readouterr().out
    assert read_manifest(out).source_format == "unisrec"
    assert [k async for k in redis_client.scan_iter(match=f"{redis_prefix}:*")] == []


async def test_a_malformed_file_is_one_line_on_stderr_and_exit_2(
    small_unisrec: Path,
    tmp_path: Path,
    redis_url: str,
    redis_prefix: str,
    redis_client: aioredis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    replace_line(small_unisrec / "Tiny.valid.inter", 3, "2\t4 5 6")
    out = tmp_path / "catalogue"
    argv = [str(small_unisrec), "--out", str(out), "--redis-url", redis_url, "--prefix", redis_prefix]
    assert _run(argv) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: {small_unisrec / 'Tiny.valid.inter'}:3: expected 3 tab-separated columns, found 2\n"
    )
    assert not out.exists()
    assert [k async for k in redis_client.scan_iter(match=f"{redis_prefix}:*")] == []


def test_no_redis_url_is_an_error(
    small_unisrec: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert _run([str(small_unisrec), "--out", str(tmp_path / "catalogue")]) == 2
    assert capsys.readouterr().err.startswith("error: no Redis URL")
    assert not (tmp_path / "catalogue").exists()


def test_an_unreachable_redis_fails_before_the_import(
    small_unisrec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "catalogue"
    assert _run([str(small_unisrec), "--out", str(out), "--redis-url", "redis://127.0.0.1:1/0"]) == 1
    assert capsys.readouterr().err.startswith("error: redis: ")
    assert not out.exists()


def test_format_can_be_forced(
    small_unisrec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(small_unisrec), "--out", str(tmp_path / "catalogue"), "--no-redis"]
    assert _run([*argv, "--format", "movielens"]) == 2
    assert "movies.csv: required file is missing" in capsys.readouterr().err


def test_the_command_runs_as_a_process(tmp_path: Path) -> None:
    module = "recgpt_tools.import_cli"
    argv = [str(tmp_path / "nowhere"), "--out", str(tmp_path / "catalogue"), "--no-redis"]
    result = subprocess.run(
        [sys.executable, "-m", module, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == f"error: {tmp_path / 'nowhere'}: not a directory\n"


def test_hold_out_last_leaves_each_users_last_interaction_out(
    small_movielens: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    full, held = tmp_path / "full", tmp_path / "held"
    assert _run([str(small_movielens), "--out", str(full), "--no-redis"]) == 0
    assert _run([str(small_movielens), "--out", str(held), "--no-redis", "--hold-out-last"]) == 0
    assert "held out the last interaction" in capsys.readouterr().out
    whole = {h.user_id: h.interactions for h in iter_histories(full)}
    kept = {h.user_id: h.interactions for h in iter_histories(held)}
    assert kept == {user: log[:-1] if len(log) >= 2 else log for user, log in whole.items()}
    assert read_manifest(held).held_out_last and not read_manifest(full).held_out_last
    # The hold-out is part of what "fresh" means: switching it re-imports.
    assert _run([str(small_movielens), "--out", str(held), "--no-redis", "--skip-if-fresh"]) == 0
    assert "import skipped" not in capsys.readouterr().out
    assert not read_manifest(held).held_out_last
