"""Every agent service has the same files, so a reader finds an agent's prompt or fallback in one guess."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from recgpt_serving.agent_runner import AgentServiceSettings

SERVICES = Path(__file__).resolve().parents[2] / "services"
LAYOUT = {"main.py", "servicer.py", "settings.py", "prompts.py", "schema.py", "validation.py", "fallback.py"}


def agent_services() -> list[str]:
    """The packages whose entry point is the agent runner: a new agent is found without editing this test."""
    return sorted(
        main.parent.name
        for main in SERVICES.glob("*/main.py")
        if "agent_runner.main(" in main.read_text(encoding="utf-8")
    )


def test_the_agent_services_are_found() -> None:
    assert {"intent", "tags", "explain", "judge"} <= set(agent_services())


@pytest.mark.parametrize("name", agent_services())
def test_every_agent_service_has_the_same_files(name: str) -> None:
    files = {path.name for path in (SERVICES / name).glob("*.py")}
    assert files >= LAYOUT, f"{name} lacks {sorted(LAYOUT - files)}"


@pytest.mark.parametrize("name", agent_services())
def test_settings_prompts_and_entry_point_are_where_the_layout_says(name: str) -> None:
    settings = importlib.import_module(f"{name}.settings")
    own = [
        cls
        for _, cls in inspect.getmembers(settings, inspect.isclass)
        if cls.__module__ == settings.__name__ and issubclass(cls, AgentServiceSettings)
    ]
    assert len(own) == 1, f"{name}.settings must hold its one settings class"
    prompts = importlib.import_module(f"{name}.prompts")
    assert isinstance(prompts.AGENT, str) and prompts.AGENT
    assert isinstance(prompts.PROMPT_VERSION, str) and prompts.PROMPT_VERSION
    main = importlib.import_module(f"{name}.main")
    assert callable(main.build) and callable(main.main)
