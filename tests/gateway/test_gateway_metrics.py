"""/metrics (on the operators' listener) exposes the recgpt_ metrics recorded while serving; each listener
serves the OpenAPI document of its own routes."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.gateway.callers import INTERNAL


async def scrape(gateway: httpx.AsyncClient) -> dict[str, list[dict[str, str]]]:
    """Sample name -> label sets of its samples, parsed from the exposition text."""
    response = await gateway.get(INTERNAL + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample.labels)
    return samples


def has(samples: dict[str, list[dict[str, str]]], name: str, **labels: str) -> bool:
    return any(labels.items() <= found.items() for found in samples.get(name, []))


async def test_metrics_count_requests_by_route_template_and_code(
    gateway: httpx.AsyncClient,
) -> None:
    await gateway.post("/v1/recommend", json={"user_id": "erin", "n": 2})
    await gateway.post("/v1/recommend", json={"user_id": "erin", "n": 0})
    await gateway.get("/no/such/path")

    samples = await scrape(gateway)

    requests = "recgpt_requests_total"
    assert has(samples, requests, service="gateway", method="/v1/recommend", code="200")
    assert has(samples, requests, service="gateway", method="/v1/recommend", code="422")
    assert has(samples, requests, service="gateway", method="unmatched", code="404")
    assert not has(samples, requests, service="gateway", method="/no/such/path")
    assert has(samples, "recgpt_request_duration_seconds_bucket", service="gateway", method="/v1/recommend")
    assert has(
        samples,
        "recgpt_dependency_duration_seconds_count",
        service="gateway",
        dependency="retrieval",
        method="UserRoutes",
    )


async def test_oversized_bodies_are_counted_under_their_route(gateway: httpx.AsyncClient) -> None:
    await gateway.post("/v1/recommend", content=b"x" * 80_000)

    samples = await scrape(gateway)

    assert has(samples, "recgpt_requests_total", service="gateway", method="/v1/recommend", code="413")


async def test_openapi_and_docs(gateway: httpx.AsyncClient) -> None:
    schema = (await gateway.get("/openapi.json")).json()
    docs = await gateway.get("/docs")

    assert "/v1/recommend" in schema["paths"]
    assert "/readyz" in schema["paths"]
    request_schema = schema["components"]["schemas"]["RecommendRequest"]
    assert request_schema["additionalProperties"] is False
    assert docs.status_code == 200
    # The callers' document names only what callers may call; the operators' one the rest.
    assert not [path for path in schema["paths"] if "admin" in path or path.endswith("/report")]
    assert "bearer" in str(schema["components"]["securitySchemes"]).lower()
    internal = (await gateway.get(INTERNAL + "/openapi.json")).json()
    assert {"/v1/admin/experiments", "/v1/admin/keys", "/v1/experiments/{experiment_id}/report"} <= set(
        internal["paths"]
    )
    assert "/v1/recommend" not in internal["paths"]
    assert (await gateway.get("/metrics")).status_code == 404
