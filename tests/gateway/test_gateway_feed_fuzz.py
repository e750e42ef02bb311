"""The feed's HTTP contract fuzzed from the callers' schema, against a gateway served by uvicorn with the
real rules parser (intent, no LLM) and the real retrieval tools, each request with a key of every scope: no
request the schema allows is refused, none is a 5xx, every answer matches its documented status and body."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from gateway.settings import GatewaySettings
from intent.main import build
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.embedder import Embedder
from recgpt_domain.redis_connection import connect
from recgpt_serving.agent_runner import AgentDeps
from recgpt_serving.llm.client import LlmClient, LlmSettings
from retrieval.server import RetrievalServer
from retrieval.settings import IndexSettings
from tests.gateway.callers import NOT_SHED
from tests.gateway.served_gateway import CONFIG, MAX_EXAMPLES, ServedGateway, public_schema
from tests.grpc_servers import serving
from tests.intent.running import intent_settings
from tests.retrieval.catalogue_folder import ITEMS
from tests.retrieval.running import retrieval_settings

PREFIX = "recgpt-test-feed-fuzz:"


class ServedFeedGateway(ServedGateway):
    def __init__(self, redis_url: str, index: IndexSettings, model: Embedder) -> None:
        super().__init__(redis_url, PREFIX)
        self.index = index
        self.model = model

    @asynccontextmanager
    async def backends(self) -> AsyncIterator[GatewaySettings]:
        """The real retrieval service with its tools, and intent's rules parser."""
        client = connect(self.redis_url)
        store = BehaviourStore(client, PREFIX)
        # Rules only: no LLM is asked (and none listens there).
        llm = LlmClient(LlmSettings(endpoints=["http://127.0.0.1:9/v1"]))
        # The gateway asks up to its own cap of candidates (500): a retrieval serving the same.
        retrieval = RetrievalServer(
            retrieval_settings(self.index, self.redis_url, PREFIX, max_top_k=500), store
        )
        try:
            await retrieval.start()
            await retrieval.load(self.model)
            deps = AgentDeps(llm=llm, store=store, items={item.item_id: item for item in ITEMS})
            intent = build(intent_settings(self.redis_url, PREFIX, command_max_tokens=0), deps)
            async with serving(intent, name="intent") as served_intent:
                yield GatewaySettings(
                    redis_url=self.redis_url,
                    redis_prefix=PREFIX,
                    port=self.port,
                    internal_port=self.internal_port,
                    retrieval_target=f"127.0.0.1:{retrieval.port}",
                    intent_target=served_intent.target,
                    retrieval_deadline_s=2.0,
                    redis_deadline_s=1.0,
                    request_deadline_s=4.0,
                    **NOT_SHED,
                )
        finally:
            await retrieval.stop(0)
            await llm.aclose()
            await client.aclose()


@pytest.fixture(scope="module")
def served_feed(
    redis_url: str,
    small_index: IndexSettings,
    embedder: Embedder,
) -> Iterator[ServedFeedGateway]:
    with ServedFeedGateway(redis_url, small_index, embedder) as gateway:
        yield gateway


def feed_schema() -> dict[str, Any]:
    """The callers' schema cut to the feed's paths (the rest is fuzzed against its own servers)."""
    published = public_schema()
    paths = {path: spec for path, spec in published["paths"].items() if path.startswith("/v1/feed/")}
    return {**published, "paths": paths}


schema = schemathesis.openapi.from_dict(feed_schema(), config=CONFIG)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_every_feed_request_the_schema_allows_is_served_and_none_is_a_5xx(
    case: Any, served_feed: ServedFeedGateway
) -> None:
    case.call_and_validate(base_url=served_feed.url)
