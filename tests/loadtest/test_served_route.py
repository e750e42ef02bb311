"""The benchmarks say which collaborative route answered: retrieval's count by route, read before and after
a run, and what grew printed with the result."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from loadtest import bench_knee, served_route
from loadtest.bench_knee import OFF
from loadtest.knee import Knee


def exposition(counts: dict[str, float]) -> str:
    """What retrieval's /metrics shows for these answers (and one unrelated family)."""
    registry = CollectorRegistry()
    answers = Counter("recgpt_collaborative_answers", "Answers by route.", ["route"], registry=registry)
    for route, count in counts.items():
        answers.labels(route).inc(count)
    Counter("recgpt_other", "Not the answers.", ["route"], registry=registry).labels("learned").inc(99)
    return generate_latest(registry).decode()


def test_the_answers_that_grew_during_the_run_are_reported_by_route_most_first() -> None:
    before = served_route.answers_by_route(exposition({"learned": 10, "collaborative": 3, "popular": 2}))
    after = served_route.answers_by_route(exposition({"learned": 970, "collaborative": 3, "popular": 42}))

    routes = served_route.routes_between(before, after)

    assert routes == {"learned": 960, "popular": 40}
    assert served_route.describe(routes) == "collaborative route: learned 96.0% (960), popular 4.0% (40)"
    # Co-occurrence's label is `collaborative`: the report names it.
    cooccurrence = served_route.routes_between({}, {"collaborative": 5.0})
    assert served_route.describe(cooccurrence) == "collaborative route: co-occurrence 100.0% (5)"


def test_without_retrievals_metrics_the_route_is_said_unknown() -> None:
    assert served_route.routes_between(None, {"learned": 1.0}) is None
    assert "unknown" in served_route.describe(None)
    assert "none answered" in served_route.describe({})


async def test_no_address_is_no_count() -> None:
    assert await served_route.scrape_answers(None) is None
    assert await served_route.scrape_answers("http://127.0.0.1:9/metrics") is None


def test_the_knee_report_names_the_route(capsys: pytest.CaptureFixture[str]) -> None:
    args = bench_knee.parse_args(["--stack", "var/run/stack.json", "--compare", "auth"])

    line = bench_knee.report(args, {OFF: Knee(rate=500.0)}, {}, {"learned": 4800})

    assert line["collaborative_routes"] == {"learned": 4800}
    assert "collaborative route: learned 100.0% (4,800)" in capsys.readouterr().out
