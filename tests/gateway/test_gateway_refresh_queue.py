"""What a recgpt-v1 profile miss queues: only users the platform knows, within the queue's bound, and a Redis
that stops answering mid-enqueue neither holds the answer back nor leaves half an entry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import redis.asyncio as aioredis

from gateway.clients import RETRIEVAL_SERVICE, GatewayDeps
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.catalogue import Interaction
from recgpt_domain.refresh_queue import RefreshQueue
from recgpt_serving import grpc_client
from tests.gateway.gateway_fakes import FakeRetrievalServer
from tests.gateway.recgpt_v1_helpers import URL, sample
from tests.recgpt_domain.stalling_proxy import stalling_proxy

V1 = {"variant": "recgpt-v1"}
REFRESHES = "recgpt_profile_refresh_requests_total"


async def known(client: aioredis.Redis, prefix: str, *user_ids: str) -> None:
    store = BehaviourStore(client, prefix)
    for user_id in user_ids:
        await store.append(user_id, [Interaction(item_id="item-1")])


async def queued_keys(client: aioredis.Redis, prefix: str) -> list[str]:
    return [key async for key in client.scan_iter(match=f"{prefix}:refresh-queue:*")]


async def test_a_flood_of_unknown_users_queues_nothing(
    gateway: httpx.AsyncClient, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    before = sample(REFRESHES, {"outcome": "unknown_user"})

    for index in range(50):
        response = await gateway.post(URL, json={"user_id": f"stranger-{index}", "n": 5, **V1})
        assert response.status_code == 200, response.text
        assert response.json()["profile"] == "miss"

    assert await queued_keys(redis_client, redis_prefix) == []  # no entry, no marker, not even the stream
    assert sample(REFRESHES, {"outcome": "unknown_user"}) == before + 50


async def test_a_full_queue_refuses_further_users_and_counts_them(
    gateway_factory: Callable[..., Any], redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    gateway = await gateway_factory(refresh_queue_max_depth=1)
    await known(redis_client, redis_prefix, "ann", "bob")
    before = {o: sample(REFRESHES, {"outcome": o}) for o in ("queued", "queue_full")}

    for user_id in ("ann", "bob"):
        assert (await gateway.post(URL, json={"user_id": user_id, "n": 5, **V1})).status_code == 200

    queue = RefreshQueue(redis_client, redis_prefix)
    assert [entry.user_id for entry in await queue.take("worker", 10)] == ["ann"]
    assert not await redis_client.exists(queue.keys.marker("bob"))
    assert {o: sample(REFRESHES, {"outcome": o}) - before[o] for o in before} == {
        "queued": 1,
        "queue_full": 1,
    }


async def test_redis_stalling_mid_enqueue_answers_anyway_and_leaves_all_or_nothing(
    gateway_factory: Callable[..., Any],
    retrieval_server: FakeRetrievalServer,
    redis_client: aioredis.Redis,
    redis_url: str,
    redis_prefix: str,
) -> None:
    await known(redis_client, redis_prefix, "ann")
    # The enqueue script is loaded, so the stalled call runs in Redis: only its answer is lost.
    warm_up = RefreshQueue(redis_client, redis_prefix)
    await warm_up.enqueue("warm-up")
    before = sample(REFRESHES, {"outcome": "failed"})
    async with stalling_proxy(redis_url) as proxy:
        # Only the enqueue script stalls Redis (the gateway's other scripts, such as the exposures written
        # every 0.1 s in the background, must not stall the profile read before it).
        proxy.stall_on = warm_up._enqueue.sha.upper().encode()
        deps = GatewayDeps(
            redis=aioredis.Redis.from_url(proxy.url, decode_responses=True),
            retrieval_channel=grpc_client.channel(retrieval_server.target, RETRIEVAL_SERVICE),
        )
        # The pool's connection through the proxy is opened before the request, and the deadlines leave
        # room for a loaded machine: only the stalled call may run out of its own.
        assert await deps.redis.ping()
        gateway = await gateway_factory(deps=deps, redis_deadline_s=1.0, request_deadline_s=4.0)

        response = await gateway.post(URL, json={"user_id": "ann", "n": 5, **V1})
        await deps.close()

    assert response.status_code == 200, response.text
    assert response.json()["profile"] == "miss"
    assert sample(REFRESHES, {"outcome": "failed"}) == before + 1
    queue = RefreshQueue(redis_client, redis_prefix)
    # The call reached Redis and ran whole (the script was loaded): the entry and its marker, together.
    assert [entry.user_id for entry in await queue.take("worker", 10)] == ["warm-up", "ann"]
    assert await redis_client.get(queue.keys.marker("ann"))
