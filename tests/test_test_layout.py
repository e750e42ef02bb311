"""The suite's own layout: no file imports a test module or a conftest.

Importing one runs it a second time under another name (its fixtures registered twice, its module-level
state duplicated) and ties two test files together. What tests share lives in plain helper modules, and
shared fixtures in a conftest.py of a common parent, which pytest provides without an import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def is_test_module(dotted: str) -> bool:
    last = dotted.rsplit(".", 1)[-1]
    return last == "conftest" or last.startswith("test_")


def imported_modules(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every module an import statement may load, names imported from one included
    (`from tests.tags import conftest` loads a module too); `pytest_plugins` entries count as imports."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"
        elif isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "pytest_plugins" for target in node.targets
        ):
            for constant in ast.walk(node.value):
                if isinstance(constant, ast.Constant) and isinstance(constant.value, str):
                    yield node.lineno, constant.value


def test_the_check_sees_each_kind_of_import_it_forbids() -> None:
    """And lets helper modules through."""
    forbidden = [
        "from tests.gateway.test_gateway_contract_fuzz import CONFIG",
        "from tests.intent.conftest import intent_settings",
        "import tests.retrieval.conftest",
        "from tests.tags import conftest",
        "from .test_follow import wait_for",
        "pytest_plugins = ['tests.gateway.conftest']",
    ]
    for line in forbidden:
        assert [name for _, name in imported_modules(ast.parse(line)) if is_test_module(name)], line
    allowed = "from tests.grpc_servers import serving\nfrom tests.retrieval.catalogue_folder import ITEMS"
    assert not [name for _, name in imported_modules(ast.parse(allowed)) if is_test_module(name)]


def test_no_file_imports_a_test_module_or_a_conftest() -> None:
    offending = [
        f"{path.relative_to(TESTS.parent)}:{line} imports {name}"
        for path in sorted(TESTS.rglob("*.py"))
        for line, name in imported_modules(ast.parse(path.read_text(), filename=str(path)))
        if is_test_module(name)
    ]
    assert not offending, "move what they share into a helper module or a common conftest:\n" + "\n".join(
        offending
    )
