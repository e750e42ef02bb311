"""Locust load test of the gateway: weighted tasks, users and rate from the environment.

    LOCUST_USERS=20 LOCUST_SPAWN_RATE=5 LOCUST_RUN_TIME=30s \\
    RECGPT_LOADTEST_USERS_FILE=catalogue/behaviour.jsonl \\
        recgpt-stack exec -- locust -f loadtest/locustfile.py --headless

Locust reads LOCUST_HOST, LOCUST_USERS, LOCUST_SPAWN_RATE and LOCUST_RUN_TIME itself; the host defaults to
RECGPT_GATEWAY_URL and every request presents RECGPT_API_KEY (both set by `recgpt-stack exec`). Here,
RECGPT_LOADTEST_USERS_FILE gives the real user ids (a catalogue's behaviour.jsonl) and
RECGPT_LOADTEST_RATE the requests per second of each simulated user. As a smoke test it fails on any
error: the process exits 1 when a request failed or none was made.

Events: each batch carries new event ids and, once a batch has gone before, one id sent again; the answer
must store exactly the new ones and name the repeat a duplicate. With RECGPT_LOADTEST_EVENT_IDS_FILE set,
the ids sent are written there at the end (one a line), so that `python -m experiments.verify_events`
can check that every one of them is stored exactly once.
"""

from __future__ import annotations

import logging
import os
import random
import uuid
from pathlib import Path
from typing import Any

import orjson
from locust import FastHttpUser, constant_throughput, events, task

log = logging.getLogger(__name__)

MAX_USER_IDS = 50_000


def _known_user_ids() -> list[str]:
    configured = os.environ.get("RECGPT_LOADTEST_USERS_FILE", "")
    if not configured:
        log.warning("RECGPT_LOADTEST_USERS_FILE unset: every user is unknown (cold start)")
        return []
    ids: list[str] = []
    with Path(configured).open("rb") as handle:
        for line in handle:
            if line.strip():
                ids.append(orjson.loads(line)["user_id"])
            if len(ids) >= MAX_USER_IDS:
                break
    if not ids:
        raise SystemExit(f"no user ids in {configured}")
    return ids


def _api_key() -> str:
    key = os.environ.get("RECGPT_API_KEY", "")
    if not key:
        log.warning("RECGPT_API_KEY unset: requests carry no key (a gateway with RECGPT_AUTH=off only)")
    return key


KNOWN_USERS = _known_user_ids()
API_KEY = _api_key()
RATE_PER_USER = float(os.environ.get("RECGPT_LOADTEST_RATE", "1"))
EVENTS_PER_BATCH = 5
EVENT_TYPES = ("impression", "impression", "impression", "click", "page_view", "add_to_cart")
# Every event id sent (each counted once) and how many were sent again, for the end-of-run check.
SENT_EVENT_IDS: list[str] = []
RESENT = [0]


class ShopVisitor(FastHttpUser):
    """A shop page asking for recommendations, mostly for users with a history."""

    wait_time = constant_throughput(RATE_PER_USER)
    host = os.environ.get("RECGPT_GATEWAY_URL") or None
    default_headers = {"authorization": f"Bearer {API_KEY}"} if API_KEY else None

    def on_start(self) -> None:
        # The last batch's events: one of them is sent again with the next batch.
        self._sent: list[dict[str, Any]] = []

    def _recommend(self, user_id: str, n: int, name: str, cold_start: bool | None) -> None:
        body = {"user_id": user_id, "n": n, "context": {"page": "home"}}
        with self.client.post("/v1/recommend", json=body, name=name, catch_response=True) as response:
            if response.status_code != 200:
                reason = response.error or (response.text or "")[:200]
                response.failure(f"HTTP {response.status_code}: {reason}")
                return
            payload: dict[str, Any] = response.json()
            items = payload.get("items", [])
            ids = [item["item_id"] for item in items]
            if not ids or len(set(ids)) != len(ids) or len(ids) > n:
                response.failure(f"expected up to {n} distinct items, got {ids}")
            elif cold_start is not None and payload.get("cold_start") is not cold_start:
                response.failure(f"cold_start should be {cold_start}")
            elif payload.get("degraded"):
                response.failure(f"degraded: {payload['degraded']}")

    @task(8)
    def recommend_known_user(self) -> None:
        if not KNOWN_USERS:
            self.recommend_cold_start()
            return
        self._recommend(random.choice(KNOWN_USERS), random.choice((5, 10, 20)), "recommend", None)

    @task(1)
    def recommend_cold_start(self) -> None:
        self._recommend(f"loadtest-unknown-{uuid.uuid4().hex[:12]}", 10, "recommend cold", True)

    @task(1)
    def healthz(self) -> None:
        self.client.get("/healthz")

    @task(4)
    def send_events(self) -> None:
        user_id = random.choice(KNOWN_USERS) if KNOWN_USERS else f"loadtest-unknown-{uuid.uuid4().hex[:12]}"
        fresh = [_event(user_id) for _ in range(EVENTS_PER_BATCH)]
        repeat = [dict(random.choice(self._sent))] if self._sent else []
        body = {"events": fresh + repeat}
        with self.client.post("/v1/events", json=body, name="events", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {(response.text or '')[:200]}")
                return
            answer: dict[str, Any] = response.json()
            stored, duplicates = answer.get("stored"), answer.get("duplicates")
            if stored != [e["event_id"] for e in fresh]:
                response.failure(f"expected the {len(fresh)} new events stored, got {stored}")
            elif duplicates != [e["event_id"] for e in repeat]:
                response.failure(f"expected the repeated event as a duplicate, got {duplicates}")
            elif answer.get("rejected"):
                response.failure(f"rejected: {answer['rejected']}")
        SENT_EVENT_IDS.extend(e["event_id"] for e in fresh)
        RESENT[0] += len(repeat)
        self._sent = fresh

    @task(2)
    def assignment(self) -> None:
        user_id = random.choice(KNOWN_USERS) if KNOWN_USERS else f"loadtest-unknown-{uuid.uuid4().hex[:12]}"
        with self.client.get(
            "/v1/experiments/assignment", params={"user_id": user_id}, name="assignment", catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {(response.text or '')[:200]}")
            elif response.json().get("user_id") != user_id:
                response.failure("assignment for another user")


def _event(user_id: str) -> dict[str, Any]:
    kind = random.choice(EVENT_TYPES)
    event: dict[str, Any] = {
        "event_id": f"lt-{uuid.uuid4().hex}",
        "type": kind,
        "user_id": user_id,
        "item_id": f"item-{random.randrange(5000)}",
    }
    if random.random() < 0.05:
        event.update(type="purchase", price=round(random.uniform(5, 100), 2))
    return event


@events.quitting.add_listener  # type: ignore[untyped-decorator]
def _write_event_ids(environment: Any, **_: Any) -> None:
    log.info("events: %d sent once, %d sent again", len(SENT_EVENT_IDS), RESENT[0])
    path = os.environ.get("RECGPT_LOADTEST_EVENT_IDS_FILE", "")
    if path:
        Path(path).write_text("".join(f"{event_id}\n" for event_id in SENT_EVENT_IDS))


@events.quitting.add_listener  # type: ignore[untyped-decorator]
def _fail_on_any_error(environment: Any, **_: Any) -> None:
    total = environment.stats.total
    if total.num_requests == 0:
        log.error("smoke test made no requests")
        environment.process_exit_code = 1
    elif total.num_failures > 0:
        log.error("smoke test saw %d failed requests", total.num_failures)
        environment.process_exit_code = 1
