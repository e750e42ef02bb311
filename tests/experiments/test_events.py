"""The event kinds a client may send: each event of a batch accepted or refused on its own, with a reason that
names the field, and a published schema that allows exactly what is accepted."""

from __future__ import annotations

from typing import Any

import pytest

from experiments.events import CLIENT_EVENT, EVENT_TYPES, MAX_TS_MS, Event, parse_batch


def event(kind: str = "click", **fields: Any) -> dict[str, Any]:
    return {"event_id": "e-1", "type": kind, "user_id": "user-1", "item_id": "item-1", **fields}


def reasons(*raw: object) -> list[str]:
    valid, rejected = parse_batch(list(raw))
    assert valid == []
    return [r.reason for r in rejected]


def test_every_kind_is_accepted_with_its_fields_and_stored_as_an_event() -> None:
    batch = [event(kind, **({"price": 12.5} if kind == "purchase" else {})) for kind in EVENT_TYPES]
    batch.append(event("page_view", request_id="req-1", ts_ms=MAX_TS_MS, quantity=1000))

    valid, rejected = parse_batch(batch)

    assert rejected == []
    assert [(index, e.type) for index, e in valid] == [*enumerate(EVENT_TYPES), (5, "page_view")]
    assert valid[4][1] == Event(
        event_id="e-1", type="purchase", user_id="user-1", item_id="item-1", price=12.5
    )
    assert valid[5][1].request_id == "req-1" and valid[5][1].ts_ms == MAX_TS_MS


def test_one_bad_event_is_refused_with_its_index_and_the_others_kept() -> None:
    valid, rejected = parse_batch([event(), event("teleport", event_id="e-2"), 7, event("impression")])

    assert [index for index, _ in valid] == [0, 3]
    assert [(r.index, r.event_id) for r in rejected] == [(1, "e-2"), (2, None)]
    assert rejected[0].reason.startswith("type: must be one of impression, click")


def test_a_price_belongs_to_purchases_only() -> None:
    missing, extra = reasons(event("purchase"), event("click", price=3.0))

    assert missing.startswith("price: price is required for a purchase")
    assert extra.startswith("price: price is required for a purchase")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"quantity": "2"}, "quantity"),
        ({"quantity": True}, "quantity"),
        ({"quantity": 1.5}, "quantity"),
        ({"quantity": 0}, "quantity"),
        ({"ts_ms": "1700000000000"}, "ts_ms"),
        ({"ts_ms": -1}, "ts_ms"),
        ({"ts_ms": MAX_TS_MS + 1}, "ts_ms"),
        ({"user_id": "two words"}, "user_id"),
        ({"user_id": "user\n"}, "user_id"),
        ({"item_id": ""}, "item_id"),
        ({"event_id": "e" * 129}, "event_id"),
        ({"request_id": 5}, "request_id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_what_the_schema_forbids_is_refused_naming_the_field(fields: dict[str, Any], field: str) -> None:
    (reason,) = reasons(event(**fields))

    assert reason.startswith(f"{field}")


def test_numbers_are_taken_as_json_schema_reads_them() -> None:
    """2.0 is the integer 2 by JSON Schema; an integer price is a number."""
    valid, _ = parse_batch([event("purchase", quantity=2.0, ts_ms=5.0, price=3)])

    ((_, stored),) = valid
    assert (stored.quantity, stored.ts_ms, stored.price) == (2, 5, 3.0)


def test_a_string_price_is_refused() -> None:
    (reason,) = reasons(event("purchase", price="12.5"))

    assert reason == "price: Input should be a valid number"


def test_the_schema_is_one_kind_per_type_and_only_purchases_carry_a_price() -> None:
    schema = CLIENT_EVENT.json_schema()
    kinds = {name: schema["$defs"][name] for name in schema["$defs"]}

    assert set(schema["discriminator"]["mapping"]) == set(EVENT_TYPES)
    assert len(schema["oneOf"]) == len(EVENT_TYPES)
    for kind in kinds.values():
        assert kind["additionalProperties"] is False
        assert {"event_id", "user_id", "item_id", "type"} <= set(kind["required"])
        is_purchase = kind["properties"]["type"]["const"] == "purchase"
        assert ("price" in kind["properties"]) == is_purchase == ("price" in kind["required"])
    ts_ms = kinds["ClickEvent"]["properties"]["ts_ms"]["anyOf"][0]
    assert (ts_ms["minimum"], ts_ms["maximum"]) == (0, MAX_TS_MS)
