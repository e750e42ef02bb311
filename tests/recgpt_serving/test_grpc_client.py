"""A channel spreads its calls over every address its target resolves to, as a headless Service gives them."""

from __future__ import annotations

import json
from collections import Counter

import grpc

from recgpt_serving import grpc_client

SERVICE = "test.Who"
METHOD = f"/{SERVICE}/Name"


async def _server(name: bytes) -> tuple[grpc.aio.Server, int]:
    async def answer(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return name

    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        SERVICE, {"Name": grpc.unary_unary_rpc_method_handler(answer)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


def test_the_service_config_asks_for_round_robin() -> None:
    config = json.loads(grpc_client.service_config(SERVICE))
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    assert config["methodConfig"][0]["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]


async def test_calls_reach_every_address_of_the_target() -> None:
    servers = [await _server(b"a"), await _server(b"b")]
    # The ipv4: scheme resolves to both addresses at once, as dns:/// resolves a headless Service's pods.
    target = "ipv4:" + ",".join(f"127.0.0.1:{port}" for _, port in servers)
    try:
        async with grpc_client.channel(target, SERVICE) as channel:
            await channel.channel_ready()
            call = channel.unary_unary(METHOD)
            answers = Counter([await call(b"", timeout=5) for _ in range(20)])
        # pick_first, gRPC's default, would answer 20 times from one server.
        assert set(answers) == {b"a", b"b"}, answers
    finally:
        for server, _ in servers:
            await server.stop(0)
