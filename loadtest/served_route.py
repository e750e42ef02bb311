"""Which collaborative route answered while a benchmark ran: the towers' ranker, the learned towers,
co-occurrence or popular.

A knee measured with the learned route and one measured with co-occurrence are different platforms, and the
route depends on whether retrieval found a towers artefact at start-up. Retrieval counts its answers by the
route that led them (`recgpt_collaborative_answers_total`); the benchmarks read that count before and after
and print what grew, so every result says which route it measured.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families

ANSWERS_METRIC = "recgpt_collaborative_answers_total"
# The route label's values (retrieval's servicer): `collaborative` is co-occurrence, `ranked` the artefact's
# ranker over the learned route's and the others' candidates.
ROUTE_NAMES = {
    "ranked": "ranked (learned + co-occurrence + content + popular)",
    "learned": "learned",
    "collaborative": "co-occurrence",
    "popular": "popular",
    "none": "none",
}


def answers_by_route(metrics_text: str) -> dict[str, float]:
    """`recgpt_collaborative_answers_total` by route, from a Prometheus text exposition."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == ANSWERS_METRIC:
                route = sample.labels.get("route", "")
                found[route] = found.get(route, 0.0) + sample.value
    return found


async def scrape_answers(metrics_url: str | None) -> dict[str, float] | None:
    """Retrieval's count now; None without its address or when it does not answer (the route unknown)."""
    if not metrics_url:
        return None
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(metrics_url)
    except httpx.HTTPError:
        return None
    return answers_by_route(response.text) if response.status_code == 200 else None


def routes_between(
    before: Mapping[str, float] | None, after: Mapping[str, float] | None
) -> dict[str, int] | None:
    """Answers per route during the run (co-occurrence named so), most first; None when unknown."""
    if before is None or after is None:
        return None
    grown = {
        ROUTE_NAMES.get(route, route): round(count - before.get(route, 0.0)) for route, count in after.items()
    }
    return dict(sorted(((route, count) for route, count in grown.items() if count > 0), key=lambda x: -x[1]))


def describe(routes: Mapping[str, int] | None) -> str:
    """One line: `collaborative route: learned 96.0% (4,801), popular 4.0% (199)`."""
    if routes is None:
        return "collaborative route: unknown (retrieval's metrics not readable)"
    total = sum(routes.values())
    if not total:
        return "collaborative route: none answered"
    shares = ", ".join(f"{route} {count / total:.1%} ({count:,})" for route, count in routes.items())
    return f"collaborative route: {shares}"
