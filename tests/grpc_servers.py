"""In-process gRPC servers for the unit tests: one way to serve servicers on a free port and stop them.

Served as every RecGPT service is (`GrpcService`: standard health, reflection, the request-context
interceptor), on 127.0.0.1 port 0, SERVING once started and stopped with a grace period when the block ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc

from recgpt_serving.agent_runner import Registration
from recgpt_serving.grpc_server import GrpcService

# Fakes serve every call at once unless a test caps them.
UNCAPPED = 1024
# Long enough for a call in flight to finish, short enough that a fake stuck in a slow fault does not
# hold the test up.
GRACE_S = 0.5


@dataclass
class Served:
    service: GrpcService
    target: str
    stopped: bool = False

    async def stop(self, grace_s: float = GRACE_S) -> None:
        """Stops serving (NOT_SERVING first, as in production); a second stop does nothing."""
        if not self.stopped:
            self.stopped = True
            await self.service.stop(grace_s)


def registration(
    servicer: Any, add_to_server: Callable[[Any, grpc.aio.Server], None], full_service_name: str
) -> Registration:
    """A fake servicer described as the services describe theirs."""
    return Registration(servicer=servicer, add_to_server=add_to_server, full_service_name=full_service_name)


@asynccontextmanager
async def serving(
    *registrations: Registration, max_concurrent_rpcs: int = UNCAPPED, name: str = "test"
) -> AsyncIterator[Served]:
    """Serves the registrations on one server at 127.0.0.1:<free port> until the block ends."""
    service = GrpcService(
        name,
        [each.full_service_name for each in registrations],
        max_concurrent_rpcs=max_concurrent_rpcs,
    )
    for each in registrations:
        each.add_to_server(each.servicer, service.server)
    port = service.bind("127.0.0.1", 0)
    served = Served(service, f"127.0.0.1:{port}")
    await service.start()
    try:
        await service.mark_serving()
        yield served
    finally:
        await served.stop()
