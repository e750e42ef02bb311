"""The gateway served by uvicorn in a thread of its own, with an API key of every scope, and the schemathesis
configuration, for the contract fuzz tests (test_gateway_contract_fuzz.py, test_gateway_feed_fuzz.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Self

import redis
import redis.asyncio as aioredis
import schemathesis
from schemathesis import Case, CheckContext, Response
from schemathesis.config import SchemathesisConfig

from gateway.app import create_app
from gateway.auth.keys import KeyStore, Scope, new_key
from gateway.clients import RETRIEVAL_SERVICE
from gateway.main import build_server
from gateway.settings import GatewaySettings
from recgpt.retrieval.v1 import retrieval_pb2_grpc
from recgpt_tools import redis_server
from tests.gateway.callers import NOT_SHED
from tests.gateway.gateway_fakes import FakeRetrieval, fake_server

# Examples per operation: enough to reach the schema's edges (the coverage phase adds its boundary cases),
# few enough that the whole test stays well under a minute.
MAX_EXAMPLES = 40

# A request the schema forbids is refused as malformed (400, 422), too large (413), of a wrong method or
# media type (405, 406, 415), without the key the schema requires (401), or, for a path parameter that no
# longer fits the route, unknown (404). With a key of every scope and no limit in reach, never 403 or 429.
REFUSED = ["400", "401", "404", "405", "406", "413", "415", "422", "428"]

# The key every fuzz run calls with: every scope and no rate limit in reach (a run is a burst of thousands of
# requests). Given to schemathesis as the schema's bearer scheme, so that its cases without a key really go
# without one; `ServedGateway` stores it where the gateway reads its keys before it starts.
FUZZ_KEY, FUZZ_BEARER = new_key("contract-fuzz", frozenset(Scope), rate_per_s=1e6, burst=1_000_000)

CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
        "auth": {"openapi": {"HTTPBearer": {"bearer": FUZZ_BEARER}}},
        "checks": {
            # Allowed by the schema means accepted: a 4xx for a valid request is a contract break.
            "positive_data_acceptance": {"expected-statuses": ["2xx"]},
            "negative_data_rejection": {"expected-statuses": REFUSED},
        },
        "operations": [
            {
                # A batch of valid events may still exceed the body limit (200 events of 128-character ids
                # are well over 64 KB). A batch with some invalid events stores the others (2xx): then the
                # answer must name the refused ones (`partial_batches_name_what_they_refused`).
                "include-name": "POST /v1/events",
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", "413"]},
                    "negative_data_rejection": {"expected-statuses": ["2xx", *REFUSED]},
                },
            },
            {
                # A config valid by shape may fail its semantic checks (unknown variant, weights that do not
                # add up: 422), and only the body limit bounds its size (413).
                "include-name": "PUT /v1/admin/experiments",
                "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "413", "422"]}},
            },
            {
                # Valid by shape yet naming what is not there: a config revision, an experiment, a key.
                "include-name": [
                    "GET /v1/admin/experiments/history",
                    "GET /v1/experiments/{experiment_id}/report",
                    "DELETE /v1/admin/keys/{key_id}",
                ],
                "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "404"]}},
            },
        ],
    }
)


@schemathesis.check
def partial_batches_name_what_they_refused(
    ctx: CheckContext, response: Response, case: Case[Any]
) -> bool | None:
    """A batch the schema forbids, answered 2xx, stored its valid events: the answer must list the others."""
    negative = case.meta is not None and case.meta.generation.mode.is_negative
    if case.path != "/v1/events" or not negative or not 200 <= response.status_code < 300:
        return None
    assert response.json()["rejected"], "a batch the schema forbids was stored whole"
    return None


class ServedGateway:
    """uvicorn with the gateway app and a fake retrieval, on an event loop in a thread of their own, both
    listeners on free ports, and `FUZZ_KEY` stored before it starts."""

    def __init__(self, redis_url: str, redis_prefix: str) -> None:
        self.redis_url = redis_url
        self.redis_prefix = redis_prefix
        self.port = redis_server.free_port()
        self.internal_port = redis_server.free_port()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="served-gateway", daemon=True)

    @property
    def url(self) -> str:
        """The callers' listener."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def internal_url(self) -> str:
        """The operators' listener."""
        return f"http://127.0.0.1:{self.internal_port}"

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(timeout=30) or self._failure is not None:
            raise RuntimeError("the gateway did not start") from self._failure
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
        # Everything the run wrote: events, exposures, configs, the keys it made.
        cleanup = redis.Redis.from_url(self.redis_url)
        for key in cleanup.scan_iter(match=f"{self.redis_prefix}*"):
            cleanup.delete(key)
        cleanup.close()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:
            self._failure = error
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await self._store_key()
        async with self.backends() as gateway_settings:
            server = build_server(gateway_settings)
            serving = asyncio.create_task(server.serve())
            try:
                while not server.started:
                    if serving.done():
                        await serving  # raises why it could not start
                        raise RuntimeError("uvicorn stopped during start-up")
                    await asyncio.sleep(0.01)
                self._ready.set()
                await self._stop.wait()
            finally:
                server.should_exit = True
                await serving

    async def _store_key(self) -> None:
        """Where the gateway reads its keys at start-up: Redis, under its prefix."""
        client = aioredis.Redis.from_url(self.redis_url)
        try:
            await KeyStore(client, self.redis_prefix).add(FUZZ_KEY)
        finally:
            await client.aclose()

    @asynccontextmanager
    async def backends(self) -> AsyncIterator[GatewaySettings]:
        """The gateway's settings (on `port` and `internal_port`), pointing at the services it needs, served
        until the block ends."""
        add = retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server
        async with fake_server(FakeRetrieval(), RETRIEVAL_SERVICE, add) as retrieval:
            yield GatewaySettings(
                redis_url=self.redis_url,
                redis_prefix=self.redis_prefix,
                port=self.port,
                internal_port=self.internal_port,
                retrieval_target=retrieval.target,
                # Generous, so that a busy test machine does not turn a slow answer into a degraded one.
                retrieval_deadline_s=1.0,
                redis_deadline_s=1.0,
                request_deadline_s=2.0,
                **NOT_SHED,
            )


def _placeholder() -> GatewaySettings:
    return GatewaySettings(redis_url="redis://unused", port=0, retrieval_target="unused:1")


def public_schema() -> dict[str, Any]:
    """What the callers' listener serves at /openapi.json; the app is only built, nothing connects."""
    return create_app(_placeholder()).public.openapi()


def internal_schema() -> dict[str, Any]:
    """What the operators' listener serves at /openapi.json."""
    return create_app(_placeholder()).internal.openapi()
