"""The user simulator against the gateway (fake retrieval): it clicks its real next item, and every event
it sends is acknowledged and stored once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI

from experiments.events import iter_events
from loadtest.simulator import SimulatedUser, Simulator, price


async def test_simulated_users_act_on_their_next_items(
    gateway_factory: Callable[..., Any], redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    client: httpx.AsyncClient = await gateway_factory()
    page = (await client.post("/v1/recommend", json={"user_id": "sim-0", "n": 5})).json()
    shown = [item["item_id"] for item in page["items"]]
    category = {shown[0]: "glue", shown[1]: "tape"}
    users = [
        SimulatedUser("sim-0", next_item=shown[0], next_category="glue"),
        SimulatedUser("sim-1", next_item="never-shown", next_category="tape"),
    ]
    simulator = Simulator(client, category, category_click=1.0, page_size=5, seed=0)
    await simulator.run_round(users, concurrency=2)
    tally = simulator.tally
    assert tally.pages == 2 and tally.failed_pages == 0 and not tally.errors
    assert tally.events_sent == tally.events_stored
    app: FastAPI = client._transport.app  # type: ignore[attr-defined]
    stored = [e async for e in iter_events(redis_client, app.state.settings.redis_prefix)]
    assert len(stored) == tally.events_sent
    kinds = [(e["user"], e["type"]) for e in stored]
    # sim-0 saw its exact next item: click, page view, cart, purchase at the item's price.
    assert ("sim-0", "purchase") in kinds
    purchase = next(e for e in stored if e["type"] == "purchase")
    assert float(purchase["price"]) == price(shown[0])
    # sim-1's next item was not shown, but an item of its category was (click chance 1): a click only.
    assert ("sim-1", "click") in kinds and ("sim-1", "purchase") not in kinds
