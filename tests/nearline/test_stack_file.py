"""The near-line worker reads Redis and the services it calls from its environment: what the launcher sets
when it starts the worker, and what `recgpt-stack exec` hands over from a running platform's state."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from nearline.settings import NearlineSettings
from recgpt_tools.run_state import RunState


def test_the_run_states_environment_configures_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ("retrieval", "intent", "tags", "explain", "judge")
    state = RunState(
        redis_url="redis://127.0.0.1:7/0",
        redis_prefix="p",
        catalogue_dir=tmp_path,
        urls={"gateway": "http://127.0.0.1:8"},
        targets={name: f"127.0.0.1:{port}" for port, name in enumerate(names, start=1)},
        metrics_urls={},
    )
    for name, value in state.client_env().items():
        monkeypatch.setenv(name, value)
    settings = NearlineSettings()
    assert (settings.redis_url, settings.redis_prefix) == ("redis://127.0.0.1:7/0", "p")
    assert (settings.retrieval_target, settings.intent_target) == ("127.0.0.1:1", "127.0.0.1:2")
    assert (settings.tags_target, settings.explain_target) == ("127.0.0.1:3", "127.0.0.1:4")
    # Batch runs serve no metrics: nothing to configure.
    assert settings.metrics_port is None


def test_a_missing_service_address_is_an_error_that_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:7/0")
    for name in ("RETRIEVAL", "INTENT", "TAGS", "EXPLAIN"):
        monkeypatch.setenv(f"RECGPT_{name}_TARGET", "127.0.0.1:1")
    monkeypatch.delenv("RECGPT_TAGS_TARGET")
    with pytest.raises(ValidationError, match="tags_target"):
        NearlineSettings()
