"""The gateway served by uvicorn in a thread of its own, and the schemathesis configuration, for the contract
fuzz tests (test_gateway_contract_fuzz.py, test_gateway_feed_fuzz.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from schemathesis.config import SchemathesisConfig

from gateway.app import create_app
from gateway.clients import RETRIEVAL_SERVICE
from gateway.main import build_server
from gateway.settings import GatewaySettings
from recgpt.retrieval.v1 import retrieval_pb2_grpc
from recgpt_tools import redis_server
from tests.gateway.gateway_fakes import FakeRetrieval, fake_server

# Examples per operation: enough to reach the schema's edges (the coverage phase adds its boundary cases),
# few enough that the whole test stays well under a minute.
MAX_EXAMPLES = 40

CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
        "checks": {
            # Allowed by the schema means accepted: a 4xx for a valid request is a contract break.
            "positive_data_acceptance": {"expected-statuses": ["2xx"]},
        },
        "operations": [
            {
                # Valid by shape yet refused by what it names: the admin API without the right token (401,
                # 403), a report of an experiment the config lacks (404), a config that fails its checks
                # or a batch whose every event is invalid (422). Events and configs are free-form objects
                # checked one by one, so only the gateway's body limit bounds their size (413).
                "include-path-regex": r"^/v1/(admin/|events$|experiments/\{experiment_id\})",
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "401", "403", "404", "413", "422"]
                    },
                    # An invalid batch too large for the body limit is refused by it (413) before its checks.
                    "negative_data_rejection": {
                        "expected-statuses": [
                            *(
                                "400",
                                "401",
                                "403",
                                "404",
                                "405",
                                "406",
                                "409",
                                "413",
                                "415",
                                "422",
                                "428",
                                "429",
                            )
                        ]
                    },
                },
            }
        ],
    }
)


class ServedGateway:
    """uvicorn with the gateway app and a fake retrieval, on an event loop in a thread of their own."""

    def __init__(self, redis_url: str, redis_prefix: str) -> None:
        self.redis_url = redis_url
        self.redis_prefix = redis_prefix
        self.port = redis_server.free_port()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="served-gateway", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServedGateway:
        self._thread.start()
        if not self._ready.wait(timeout=30) or self._failure is not None:
            raise RuntimeError("the gateway did not start") from self._failure
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:
            self._failure = error
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
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

    @asynccontextmanager
    async def backends(self) -> AsyncIterator[GatewaySettings]:
        """The gateway's settings, pointing at the services it needs, served until the block ends."""
        add = retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server
        async with fake_server(FakeRetrieval(), RETRIEVAL_SERVICE, add) as retrieval:
            yield GatewaySettings(
                redis_url=self.redis_url,
                redis_prefix=self.redis_prefix,
                port=self.port,
                retrieval_target=retrieval.target,
                # Generous, so that a busy test machine does not turn a slow answer into a degraded one.
                retrieval_deadline_s=1.0,
                redis_deadline_s=1.0,
                request_deadline_s=2.0,
            )


def published_schema() -> dict[str, Any]:
    """What the gateway serves at /openapi.json; the app is only built, nothing connects."""
    placeholder = GatewaySettings(redis_url="redis://unused", port=0, retrieval_target="unused:1")
    return create_app(placeholder).openapi()
