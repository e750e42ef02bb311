"""The layers, written down: every import of services/ and loadtest/ read, and each edge checked against
the table. A lower layer never imports a higher one, services never import each other, offline code reads
a service only through its contract (what its agent is asked and answers), and packages form no cycle.

To place a new package, add it to `LAYERS`; to let offline code read a new contract module, name it in
`CONTRACT_MODULES` and keep it free of its service's internals (the test checks that too).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ROOT / "services"

# Lowest first. Packages of one layer may import each other, except where `INDEPENDENT` says not.
LAYERS: list[tuple[str, frozenset[str]]] = [
    ("generated", frozenset({"recgpt"})),
    ("domain", frozenset({"recgpt_domain"})),
    ("serving plumbing", frozenset({"recgpt_serving"})),
    ("serving library", frozenset({"experiments"})),
    ("services", frozenset({"gateway", "retrieval", "intent", "tags", "explain", "judge", "nearline"})),
    ("offline", frozenset({"evaluation", "agent_training", "towers"})),
    ("tools", frozenset({"recgpt_tools", "loadtest"})),
]
# Layers whose packages never import each other: each service runs and deploys on its own.
INDEPENDENT = frozenset({"services"})
# An agent's prompt and answer schema are its contract with whoever trains and evaluates it, as a proto is
# with its callers: offline code may read these modules of a service, and nothing else of it.
CONTRACT_MODULES = frozenset({"prompts", "schema"})

LAYER_OF = {package: index for index, (_, packages) in enumerate(LAYERS) for package in packages}
NAME_OF = {index: name for index, (name, _) in enumerate(LAYERS)}


@dataclass(frozen=True)
class Edge:
    source: str  # dotted module that imports
    target: str  # dotted module imported
    where: str  # path:line

    @property
    def source_package(self) -> str:
        return self.source.split(".")[0]

    @property
    def target_package(self) -> str:
        return self.target.split(".")[0]


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(SERVICES.rglob("*.py")):
        relative = path.relative_to(SERVICES)
        if relative.parts[0] == "recgpt" or relative.parts[0].endswith(".egg-info"):
            continue
        yield ".".join(relative.with_suffix("").parts).removesuffix(".__init__"), path
    for path in sorted((ROOT / "loadtest").rglob("*.py")):
        relative = path.relative_to(ROOT)
        yield ".".join(relative.with_suffix("").parts).removesuffix(".__init__"), path


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """Dotted names an import statement reads, relative imports resolved; names of `from X import a`
    count as `X.a` so that a contract module imported by name is seen as itself."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            parts = module.split(".")
            base = parts if is_package else parts[:-1]
            base = base[: len(base) - (node.level - 1)]
            origin = ".".join([*base, node.module] if node.module else base)
        else:
            origin = node.module or ""
        return [f"{origin}.{alias.name}" for alias in node.names]
    return []


def edges() -> list[Edge]:
    found: list[Edge] = []
    for module, path in _modules():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            for target in _imported(node, module, path.name == "__init__.py"):
                package = target.split(".")[0]
                if package in LAYER_OF and package != module.split(".")[0]:
                    where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
                    found.append(Edge(module, target, where))
    return found


def _offends(edge: Edge) -> str | None:
    source, target = LAYER_OF[edge.source_package], LAYER_OF[edge.target_package]
    if target > source:
        return f"{NAME_OF[source]} imports {NAME_OF[target]}"
    if target == source and NAME_OF[source] in INDEPENDENT:
        return f"{NAME_OF[source]} import each other"
    if NAME_OF[source] == "offline" and NAME_OF[target] == "services":
        parts = edge.target.split(".")
        if len(parts) < 2 or parts[1] not in CONTRACT_MODULES:
            return (
                f"offline code reads a service's internals (only {sorted(CONTRACT_MODULES)} are its contract)"
            )
    return None


def test_every_package_has_a_layer() -> None:
    packages = {module.split(".")[0] for module, _ in _modules()}
    assert packages <= set(LAYER_OF), f"packages without a layer: {sorted(packages - set(LAYER_OF))}"


def test_imports_follow_the_layers() -> None:
    offences = [f"{e.where}: {e.source} -> {e.target} ({why})" for e in edges() if (why := _offends(e))]
    assert not offences, "\n".join(offences)


def test_contract_modules_read_nothing_else_of_their_service() -> None:
    """A contract module pulls in only lower layers and its service's other contract modules, so that
    reading it never drags the service's internals into offline code."""
    offences = []
    for module, path in _modules():
        package, _, name = module.partition(".")
        if LAYER_OF.get(package) != LAYER_OF["gateway"] or name not in CONTRACT_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            for target in _imported(node, module, is_package=False):
                parts = target.split(".")
                if parts[0] == package and (len(parts) < 2 or parts[1] not in CONTRACT_MODULES):
                    offences.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}: {target}")
    assert not offences, "\n".join(offences)


def test_packages_form_no_cycle() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for edge in edges():
        graph[edge.source_package].add(edge.target_package)
    cycles = []
    for start in sorted(graph):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for following in sorted(graph[node]):
                if following == start:
                    cycles.append(" -> ".join([*path, start]))
                elif following not in path:
                    stack.append((following, [*path, following]))
    assert not cycles, "\n".join(sorted(set(cycles)))


@pytest.mark.parametrize(
    ("source", "target", "offence"),
    [
        ("retrieval.servicer", "towers.train", "services imports offline"),
        ("recgpt_domain.catalogue", "recgpt_serving.metrics", "domain imports serving plumbing"),
        ("nearline.settings", "recgpt_tools.registry", "services imports tools"),
        ("gateway.app", "retrieval.servicer", "services import each other"),
        ("agent_training.data", "tags.validation", "offline code reads a service's internals"),
    ],
)
def test_the_table_refuses_what_it_should(source: str, target: str, offence: str) -> None:
    why = _offends(Edge(source, target, "example"))
    assert why is not None and why.startswith(offence)


def test_the_table_allows_a_contract_and_a_lower_layer() -> None:
    assert _offends(Edge("agent_training.data", "tags.prompts", "example")) is None
    assert _offends(Edge("gateway.app", "experiments.runtime", "example")) is None
    assert _offends(Edge("evaluation.cli", "agent_training.data", "example")) is None
