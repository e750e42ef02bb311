"""Every metric is declared in recgpt_serving/metrics.py: one page lists what the platform exports, with its
labels and buckets, and a dashboard or alert is written against that page alone."""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"
METRICS_MODULE = SERVICES / "recgpt_serving" / "metrics.py"
KINDS = frozenset({"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"})


def _declarations(path: Path) -> list[int]:
    """Lines where `path` constructs a prometheus_client metric (imported by name or through the module)."""
    tree = ast.parse(path.read_text())
    named = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "prometheus_client"
        for alias in node.names
        if alias.name in KINDS
    }
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        if (isinstance(function, ast.Name) and function.id in named) or (
            isinstance(function, ast.Attribute)
            and function.attr in KINDS
            and isinstance(function.value, ast.Name)
            and function.value.id == "prometheus_client"
        ):
            lines.append(node.lineno)
    return lines


def test_metrics_are_declared_only_in_the_metrics_module() -> None:
    found = [
        f"{path.relative_to(SERVICES)}:{line}"
        for path in sorted(SERVICES.rglob("*.py"))
        if path != METRICS_MODULE and path.relative_to(SERVICES).parts[0] != "recgpt"
        for line in _declarations(path)
    ]
    assert not found, f"metrics declared outside recgpt_serving/metrics.py: {found}"


def test_the_check_sees_a_declaration(tmp_path: Path) -> None:
    module = tmp_path / "example.py"
    module.write_text(
        "import prometheus_client\nfrom prometheus_client import Counter as C\n"
        "A = C('recgpt_a_total', 'a')\nB = prometheus_client.Gauge('recgpt_b', 'b')\n"
    )
    assert _declarations(module) == [3, 4]
