"""User simulator: real users of a dataset ask for recommendations and act on them as their next items say.

Each simulated user is a dataset user whose last interaction the platform does not see (`make run` with
RECGPT_STACK_HOLD_OUT_LAST=1): that item is their real next item. On every page the user sends an impression
per item shown; clicks (and views the item page of) the exact next item, or an item of the same fine category
with probability `--category-click`; adds to cart and buys on an exact match, at the item's price (the
datasets carry none: a fixed pseudo-price per item, from its id, so that arms compare on equal terms).
So a variant that puts the user's real next items (or their category) on the page gets more clicks, and an
experiment between variants shows it in its report.

    recgpt-stack exec -- python -m loadtest.simulator --dataset data/amazon-scientific --users 300 --rounds 2

The gateway and the key come from the environment `recgpt-stack exec` sets (RECGPT_GATEWAY_URL,
RECGPT_API_KEY); --gateway names another gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from loadtest.gateway_access import ClientSettings, GatewayAccess
from recgpt_domain.datasets.formats import read, resolve_format

EVENTS_PER_BATCH = 200


@dataclass(frozen=True)
class SimulatedUser:
    user_id: str
    next_item: str
    next_category: str


@dataclass
class Tally:
    pages: int = 0
    failed_pages: int = 0
    events_sent: int = 0
    events_stored: int = 0
    events_rejected: int = 0
    clicks: int = 0
    purchases: int = 0
    by_variant: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def price(item_id: str) -> float:
    """A fixed pseudo-price between 5 and 100 (the datasets have no prices)."""
    digest = hashlib.blake2b(item_id.encode(), digest_size=4).digest()
    return round(5 + int.from_bytes(digest, "big") % 9500 / 100, 2)


def load_users(dataset: Path, count: int, seed: int) -> tuple[list[SimulatedUser], dict[str, str]]:
    """`count` users with at least two interactions, drawn by `seed`, and every item's fine category."""
    imported = read(dataset, resolve_format(dataset))
    category = {item.item_id: item.category_path[-1] for item in imported.items if item.category_path}
    eligible = [h for h in imported.histories if len(h.interactions) >= 2]
    chosen = random.Random(seed).sample(eligible, min(count, len(eligible)))
    users = [
        SimulatedUser(h.user_id, h.interactions[-1].item_id, category.get(h.interactions[-1].item_id, ""))
        for h in chosen
    ]
    return users, category


class Simulator:
    def __init__(
        self,
        client: httpx.AsyncClient,
        category: dict[str, str],
        category_click: float,
        page_size: int,
        seed: int,
    ) -> None:
        self.client = client
        self.category = category
        self.category_click = category_click
        self.page_size = page_size
        self.rng = random.Random(seed)
        self.tally = Tally()

    async def visit(self, user: SimulatedUser) -> None:
        # Page size 0: the request leaves `n` to the user's experiment arm (or the gateway's default).
        body: dict[str, Any] = {"user_id": user.user_id, **({"n": self.page_size} if self.page_size else {})}
        response = await self.client.post("/v1/recommend", json=body)
        self.tally.pages += 1
        if response.status_code != 200:
            self.tally.failed_pages += 1
            self.tally.errors.append(f"recommend {response.status_code}: {response.text[:200]}")
            return
        page: dict[str, Any] = response.json()
        variant = page["variant"]
        self.tally.by_variant[variant] = self.tally.by_variant.get(variant, 0) + 1
        await self.send(self.act(user, page))

    def act(self, user: SimulatedUser, page: dict[str, Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []

        def emit(kind: str, item_id: str, **extra: Any) -> None:
            events.append(
                {
                    "event_id": uuid.uuid4().hex,
                    "type": kind,
                    "user_id": user.user_id,
                    "item_id": item_id,
                    "request_id": page["request_id"],
                    "ts_ms": int(time.time() * 1000),
                    **extra,
                }
            )

        for item in page["items"]:
            item_id = item["item_id"]
            emit("impression", item_id)
            exact = item_id == user.next_item
            same_category = bool(user.next_category) and self.category.get(item_id) == user.next_category
            if exact or (same_category and self.rng.random() < self.category_click):
                emit("click", item_id)
                emit("page_view", item_id)
                self.tally.clicks += 1
            if exact:
                emit("add_to_cart", item_id)
                emit("purchase", item_id, price=price(item_id))
                self.tally.purchases += 1
        return events

    async def send(self, events: list[dict[str, Any]]) -> None:
        for start in range(0, len(events), EVENTS_PER_BATCH):
            batch = events[start : start + EVENTS_PER_BATCH]
            for attempt in range(3):
                response = await self.client.post("/v1/events", json={"events": batch})
                if response.status_code == 503 and attempt < 2:
                    await asyncio.sleep(0.5 * (attempt + 1))  # event ids make the retry safe
                    continue
                break
            self.tally.events_sent += len(batch)
            if response.status_code != 200:
                self.tally.errors.append(f"events {response.status_code}: {response.text[:200]}")
                continue
            body = response.json()
            self.tally.events_stored += len(body["stored"]) + len(body["duplicates"])
            self.tally.events_rejected += len(body["rejected"])

    async def run_round(self, users: list[SimulatedUser], concurrency: int) -> None:
        queue: asyncio.Queue[SimulatedUser] = asyncio.Queue()
        for user in users:
            queue.put_nowait(user)

        async def worker() -> None:
            while not queue.empty():
                await self.visit(queue.get_nowait())

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def callers_client(access: GatewayAccess) -> httpx.AsyncClient:
    """The callers' listener, every request with the key."""
    return httpx.AsyncClient(base_url=access.url, headers=access.headers, timeout=10)


async def simulate(args: argparse.Namespace, access: GatewayAccess) -> Tally:
    users, category = load_users(args.dataset, args.users, args.seed)
    async with callers_client(access) as client:
        simulator = Simulator(client, category, args.category_click, args.page_size, args.seed)
        for index in range(args.rounds):
            started = time.perf_counter()
            await simulator.run_round(users, args.concurrency)
            print(f"round {index + 1}: {len(users)} users in {time.perf_counter() - started:.1f} s")
    return simulator.tally


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", help="the gateway's root (default: RECGPT_GATEWAY_URL)")
    parser.add_argument(
        "--dataset", type=Path, required=True, help="the dataset folder the platform imported"
    )
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2, help="pages each user asks for")
    parser.add_argument("--page-size", type=int, default=10, help="0: the arm (or gateway) decides")
    parser.add_argument("--category-click", type=float, default=0.3, help="click chance, same fine category")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def report_tally(tally: Tally) -> None:
    print(
        f"pages {tally.pages} (failed {tally.failed_pages}), variants {tally.by_variant}; events sent "
        f"{tally.events_sent}, acknowledged {tally.events_stored}, rejected {tally.events_rejected}; "
        f"clicks {tally.clicks}, purchases {tally.purchases}"
    )
    for error in tally.errors[:5]:
        print(f"  error: {error}")


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    try:
        access = ClientSettings().access(args.gateway)
    except ValueError as error:
        parser.error(str(error))
    tally = asyncio.run(simulate(args, access))
    report_tally(tally)
    if tally.failed_pages or tally.errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
