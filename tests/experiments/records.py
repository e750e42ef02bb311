"""Exposures and events as the gateway records them, for the report and ledger tests."""

from __future__ import annotations

import uuid

from experiments.events import Event, EventType
from experiments.exposures import Exposure


def exposure(user: str, arms: str, revision: int = 1, **flags: bool) -> Exposure:
    return Exposure(
        user_id=user,
        request_id=uuid.uuid4().hex,
        arms=arms,
        revision=revision,
        variant="baseline",
        status=200,
        latency_ms=5.0,
        fallback=False,
        override=flags.get("override", False),
        holdout=False,
        forced=flags.get("forced", False),
    )


def event(kind: EventType, user: str, price: float | None = None) -> Event:
    return Event(event_id=uuid.uuid4().hex, type=kind, user_id=user, item_id="item-1", price=price)
