"""Every agent service has the same files, so a reader finds an agent's prompt or fallback in one guess."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

from recgpt_domain import prompt_versions
from recgpt_serving.agent_runner import AgentServicer, AgentServiceSettings

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
    assert prompts.PROMPT_VERSION in known_prompt_versions()
    main = importlib.import_module(f"{name}.main")
    assert callable(main.build) and callable(main.main)


@pytest.mark.parametrize("name", agent_services())
def test_the_servicer_is_an_agent_servicer_built_in_the_one_shape(name: str) -> None:
    """`(settings, deps, <its own parts>..., *, <optional parts>)`: every agent is built alike."""
    servicer = importlib.import_module(f"{name}.servicer")
    own = [
        cls
        for _, cls in inspect.getmembers(servicer, inspect.isclass)
        if cls.__module__ == servicer.__name__ and issubclass(cls, AgentServicer)
    ]
    assert len(own) == 1, f"{name}.servicer must hold its one AgentServicer"
    parameters = list(inspect.signature(own[0].__init__).parameters.values())
    assert [parameter.name for parameter in parameters[:3]] == ["self", "settings", "deps"]
    positional_optional = [
        parameter.name
        for parameter in parameters
        if parameter.default is not inspect.Parameter.empty and parameter.kind is not parameter.KEYWORD_ONLY
    ]
    assert not positional_optional, f"{name}: make {positional_optional} keyword-only"


@pytest.mark.parametrize("name", agent_services())
def test_the_servicer_reads_agent_runner_as_one_namespace(name: str) -> None:
    """What agents share is `agent_runner.<name>`, and their service names are `service_names`': a new agent
    copies no list of imports and spells no service name."""
    tree = ast.parse((SERVICES / name / "servicer.py").read_text(encoding="utf-8"))
    imported_by_name = [
        f"line {node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "recgpt_serving.agent_runner"
    ]
    assert not imported_by_name, f"{name}.servicer: use `agent_runner.<name>` ({imported_by_name})"
    assert "SERVICE_NAME" not in module_level_names(tree), "main.py registers under service_names"


def known_prompt_versions() -> set[str]:
    return {
        value for name, value in vars(prompt_versions).items() if name.isupper() and isinstance(value, str)
    }


def module_level_names(tree: ast.Module) -> dict[str, ast.expr]:
    """Each name a module assigns at its top level, with the value assigned."""
    names: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            names.update((t.id, node.value) for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            names[node.target.id] = node.value
    return names


def prompt_version_names() -> list[tuple[str, str, ast.expr]]:
    """(module, name, value) of every `...PROMPT_VERSION` a module in services/ assigns, but the home's."""
    found = []
    for path in sorted(SERVICES.rglob("*.py")):
        relative = path.relative_to(SERVICES)
        if relative.parts[0] == "recgpt" or path == Path(prompt_versions.__file__).resolve():
            continue
        module = ".".join(relative.with_suffix("").parts)
        for name, value in module_level_names(ast.parse(path.read_text(encoding="utf-8"))).items():
            if name.endswith("PROMPT_VERSION"):
                found.append((module, name, value))
    return found


def test_the_prompt_versions_are_found() -> None:
    modules = {module for module, _, _ in prompt_version_names()}
    assert {f"{name}.prompts" for name in agent_services()} | {"intent.commands.llm"} <= modules


def test_every_prompt_version_is_one_of_prompt_versions() -> None:
    """A version spelled anywhere else would change without the near-line job seeing profiles go stale."""
    for module, name, value in prompt_version_names():
        where = f"{module}.{name}"
        assert not isinstance(value, ast.Constant), f"{where} spells its version: add it to prompt_versions"
        assert getattr(importlib.import_module(module), name) in known_prompt_versions(), where
