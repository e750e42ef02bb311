"""`recgpt-nearline --stack` takes Redis and the addresses of the services it calls from the run state."""

from __future__ import annotations

from pathlib import Path

import pytest

from nearline.cli import stack_overrides
from nearline.settings import NearlineSettings
from recgpt_tools import run_state
from recgpt_tools.run_state import RunState, RunStateError


def test_the_run_state_names_redis_and_every_service_called(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    targets = {name: f"127.0.0.1:{port}" for name, port in (("retrieval", 1), ("intent", 2), ("judge", 5))}
    state = RunState(
        redis_url="redis://127.0.0.1:7/0",
        redis_prefix="p",
        catalogue_dir=tmp_path,
        urls={},
        targets=targets,
        metrics_urls={},
    )
    run_state.write(path, state)
    overrides = stack_overrides(path)
    # The judge is not the job's to call: only addresses the settings read are taken.
    assert overrides == {
        "redis_url": "redis://127.0.0.1:7/0",
        "redis_prefix": "p",
        "retrieval_target": "127.0.0.1:1",
        "intent_target": "127.0.0.1:2",
    }
    settings = NearlineSettings.model_validate(overrides)
    assert settings.intent_target == "127.0.0.1:2"


def test_a_missing_run_state_is_an_error_that_says_why(tmp_path: Path) -> None:
    with pytest.raises(RunStateError, match="is the platform up"):
        stack_overrides(tmp_path / "stack.json")
