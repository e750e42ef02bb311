"""Dashboards may only query exported metrics, through rate() and histogram_quantile(), never lifetimes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import recgpt_serving.metrics  # noqa: F401  (registers the platform's metrics)

DASHBOARDS = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards"
METRIC = re.compile(r"\b(recgpt_[a-z_]+)")


def _exported_samples() -> set[str]:
    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.name.startswith("recgpt_"):
            names.add(family.name)
            suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
            names.update(family.name + s for s in suffixes.get(family.type, ()))
    return names


def _expressions() -> list[str]:
    found: list[str] = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            found.extend(target["expr"] for target in panel["targets"])
    return found


def test_dashboards_exist_and_have_queries() -> None:
    assert _expressions()


def test_dashboards_only_use_exported_metrics() -> None:
    exported = _exported_samples()
    unknown = {name for expr in _expressions() for name in METRIC.findall(expr)} - exported
    assert not unknown, f"dashboards query metrics nobody exports: {sorted(unknown)}"


def test_counters_and_histograms_are_rated() -> None:
    for expr in _expressions():
        for name in METRIC.findall(expr):
            if name.endswith(("_total", "_bucket")):
                assert "rate(" in expr, f"lifetime value in a dashboard: {expr}"
