"""The HTTP contract fuzzed from the gateway's own OpenAPI schemas (schemathesis), against a running gateway.

The gateway is served by uvicorn on free ports, over the real Redis and the fake retrieval service, in a
thread of its own; every request carries a key of every scope. The callers' schema is fuzzed on the callers'
listener, the operators' schema on the operators' one. Requests a schema allows must be answered 2xx (never
refused, never a 5xx); requests it forbids must be refused with a 4xx, never a 5xx; every answer must match
its documented status and body.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from experiments.events import CLIENT_EVENT, EVENT_TYPES
from tests.gateway.served_gateway import (
    CONFIG,
    MAX_EXAMPLES,
    ServedGateway,
    internal_schema,
    public_schema,
)

FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def served_gateway(redis_url: str) -> Iterator[ServedGateway]:
    with ServedGateway(redis_url, "recgpt-test-fuzz") as gateway:
        yield gateway


# The feed needs the parser and the tools to answer 2xx: test_gateway_feed_fuzz.py fuzzes it with them.
public = schemathesis.openapi.from_dict(public_schema(), config=CONFIG).exclude(path_regex="^/v1/feed/")
internal = schemathesis.openapi.from_dict(internal_schema(), config=CONFIG)


@public.parametrize()
@FUZZ_SETTINGS
def test_every_call_the_public_schema_allows_is_served_and_none_is_a_5xx(
    case: Any, served_gateway: ServedGateway
) -> None:
    case.call_and_validate(base_url=served_gateway.url)


@internal.parametrize()
@FUZZ_SETTINGS
def test_every_call_the_internal_schema_allows_is_served_and_none_is_a_5xx(
    case: Any, served_gateway: ServedGateway
) -> None:
    case.call_and_validate(base_url=served_gateway.internal_url)


def test_the_fuzzed_schemas_are_the_ones_the_gateway_serves(served_gateway: ServedGateway) -> None:
    served_public = httpx.get(f"{served_gateway.url}/openapi.json", timeout=10)
    served_internal = httpx.get(f"{served_gateway.internal_url}/openapi.json", timeout=10)

    assert served_public.status_code == 200 and served_internal.status_code == 200
    assert served_public.json() == public_schema()
    assert served_internal.json() == internal_schema()


def test_events_are_published_as_the_kinds_each_event_is_validated_with() -> None:
    components = public_schema()["components"]["schemas"]
    entry = components["EventBatch"]["properties"]["events"]["items"]
    kinds = CLIENT_EVENT.json_schema(ref_template="#/components/schemas/{model}")

    assert set(entry["discriminator"]["mapping"]) == set(EVENT_TYPES)
    assert entry["oneOf"] == kinds["oneOf"]
    for name, kind in kinds["$defs"].items():
        published = components[name]
        assert published["required"] == kind["required"] and published["additionalProperties"] is False
        assert published["properties"].keys() == kind["properties"].keys()
