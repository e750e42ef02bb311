"""The HTTP contract fuzzed from the gateway's own OpenAPI schema (schemathesis), against a running gateway.

The gateway is served by uvicorn on a free port, over the real Redis and the fake retrieval service, in a
thread of its own. Requests the schema allows must be answered 2xx (never refused, never a 5xx); requests it
forbids must be refused with a 4xx, never a 5xx; every answer must match its documented status and body.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.gateway.served_gateway import CONFIG, MAX_EXAMPLES, ServedGateway, published_schema


@pytest.fixture(scope="module")
def served_gateway(redis_url: str) -> Iterator[ServedGateway]:
    with ServedGateway(redis_url, "recgpt-test-fuzz") as gateway:
        yield gateway


# The feed needs the parser and the tools to answer 2xx: test_gateway_feed_fuzz.py fuzzes it with them.
schema = schemathesis.openapi.from_dict(published_schema(), config=CONFIG).exclude(path_regex="^/v1/feed/")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_every_request_the_schema_allows_is_served_and_no_request_is_a_5xx(
    case: Any, served_gateway: ServedGateway
) -> None:
    case.call_and_validate(base_url=served_gateway.url)


def test_the_fuzzed_schema_is_the_one_the_gateway_serves(served_gateway: ServedGateway) -> None:
    served = httpx.get(f"{served_gateway.url}/openapi.json", timeout=10)

    assert served.status_code == 200
    assert served.json() == published_schema()
