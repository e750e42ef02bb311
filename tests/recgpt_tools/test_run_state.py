"""The run state is one typed record: written whole, read back equal, refused when it is something else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recgpt_tools import run_state, stack_auth
from recgpt_tools.run_state import RunState, RunStateError


def _state(tmp_path: Path) -> RunState:
    return RunState(
        redis_url="redis://127.0.0.1:6390/0",
        redis_prefix="recgpt",
        catalogue_dir=tmp_path / "catalogue",
        urls={"gateway": "http://127.0.0.1:8080", "vllm": "http://127.0.0.1:8100"},
        targets={"retrieval": "127.0.0.1:50051"},
        metrics_urls={"retrieval": "http://127.0.0.1:9101/metrics"},
    )


def test_written_state_reads_back_equal(tmp_path: Path) -> None:
    path = tmp_path / "run" / run_state.FILE_NAME
    state = _state(tmp_path)
    run_state.write(path, state)
    assert run_state.read(path) == state
    assert state.gateway_url == "http://127.0.0.1:8080"
    assert state.vllm_url == "http://127.0.0.1:8100"
    # Replaced in one step: no temporary file is left beside it.
    assert [p.name for p in path.parent.iterdir()] == [run_state.FILE_NAME]


def test_a_missing_file_says_the_platform_may_be_down(tmp_path: Path) -> None:
    with pytest.raises(RunStateError, match="is the platform up"):
        run_state.read(tmp_path / "stack.json")


def test_a_file_of_another_shape_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    path.write_text(json.dumps({"gateway_url": "http://127.0.0.1:8080", "retrieval_target": "x:1"}))
    with pytest.raises(RunStateError, match="not a run state"):
        run_state.read(path)
    path.write_text("{")
    with pytest.raises(RunStateError, match="not a run state"):
        run_state.read(path)


def test_client_env_gives_the_operators_listener_and_the_keys_from_their_file(tmp_path: Path) -> None:
    keys = stack_auth.load_or_create_keys(tmp_path / "auth" / stack_auth.DEV_KEYS_FILE)
    state = _state(tmp_path).model_copy(
        update={
            "urls": {"gateway": "http://127.0.0.1:8080", "gateway-internal": "http://127.0.0.1:8081"},
            "keys_file": tmp_path / "auth" / stack_auth.DEV_KEYS_FILE,
        }
    )
    env = state.client_env()
    assert env["RECGPT_GATEWAY_INTERNAL_URL"] == "http://127.0.0.1:8081"
    assert env["RECGPT_API_KEY"] == keys.dev.presented
    assert env["RECGPT_ADMIN_KEY"] == keys.admin.presented
    # The state names the file, never a key.
    path = tmp_path / "run" / run_state.FILE_NAME
    run_state.write(path, state)
    assert keys.dev.presented not in path.read_text()
    assert run_state.read(path).client_env() == env


def test_client_env_without_its_keys_file_says_where_it_looked(tmp_path: Path) -> None:
    state = _state(tmp_path).model_copy(update={"keys_file": tmp_path / "gone.json"})
    with pytest.raises(RunStateError, match=r"no development keys in .*gone\.json"):
        state.client_env()
    assert "RECGPT_API_KEY" not in _state(tmp_path).client_env()
