"""The committed dashboards are what the code generates, and query only exported metrics, through rate()."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import recgpt_serving.metrics  # noqa: F401  (registers the platform's metrics)
from recgpt_tools import dashboards

DASHBOARDS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards"
METRIC = re.compile(r"\b(recgpt_[a-z_]+)")
REGENERATE = "PYTHONPATH=services python -m recgpt_tools.dashboards (make dashboards)"


def _exported_samples() -> set[str]:
    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.name.startswith("recgpt_"):
            names.add(family.name)
            suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
            names.update(family.name + s for s in suffixes.get(family.type, ()))
    return names


def _committed_expressions() -> list[str]:
    found: list[str] = []
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            found.extend(target["expr"] for target in panel["targets"])
    return found


def test_committed_json_is_what_the_code_generates() -> None:
    expected = {dashboard.file_name: dashboards.render(dashboard) for dashboard in dashboards.DASHBOARDS}
    committed = {path.name: path.read_text() for path in DASHBOARDS_DIR.glob("*.json")}
    assert set(committed) == set(expected), f"dashboard files differ; run {REGENERATE}"
    stale = sorted(name for name, text in expected.items() if committed[name] != text)
    assert not stale, f"stale dashboards {stale}; run {REGENERATE}"


def test_every_concern_has_a_dashboard_with_queries() -> None:
    uids = {dashboard.uid for dashboard in dashboards.DASHBOARDS}
    assert uids == {"recgpt-services", "recgpt-llm", "recgpt-experiments", "recgpt-caches"}
    for dashboard in dashboards.DASHBOARDS:
        assert dashboard.panels, dashboard.uid
        assert all(panel.queries for panel in dashboard.panels), dashboard.uid


def test_panels_are_grafana_panels_on_the_grid() -> None:
    for path in DASHBOARDS_DIR.glob("*.json"):
        model = json.loads(path.read_text())
        assert model["uid"] == path.stem
        ids = [panel["id"] for panel in model["panels"]]
        assert len(ids) == len(set(ids)), path.name
        for panel in model["panels"]:
            assert panel["type"] == "timeseries"
            assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, panel["title"]
            refs = [target["refId"] for target in panel["targets"]]
            assert refs == list("ABCDEFGH"[: len(refs)])


def test_dashboards_only_use_exported_metrics() -> None:
    """Every recgpt_ metric a panel queries is registered, but the experiment metrics still awaited."""
    exported = _exported_samples()
    unknown = {name for expr in _committed_expressions() for name in METRIC.findall(expr)} - exported
    unexpected = sorted(unknown - dashboards.AWAITED_METRICS)
    assert not unexpected, f"dashboards query metrics nobody exports: {unexpected}"


def test_counters_and_histograms_are_rated() -> None:
    for expr in _committed_expressions():
        for name in METRIC.findall(expr):
            if name.endswith(("_total", "_bucket")):
                assert "rate(" in expr, f"lifetime value in a dashboard: {expr}"


def test_quantiles_cover_p50_p95_p99() -> None:
    queries = dashboards.quantiles("recgpt_request_duration_seconds", "service, method", '{service="x"}')
    assert [query.expr.split(",")[0] for query in queries] == [
        "histogram_quantile(0.5",
        "histogram_quantile(0.95",
        "histogram_quantile(0.99",
    ]
    assert all("sum by (le, service, method)" in query.expr for query in queries)
    assert [query.legend for query in queries] == [
        "{{service}} {{method}} p50",
        "{{service}} {{method}} p95",
        "{{service}} {{method}} p99",
    ]
