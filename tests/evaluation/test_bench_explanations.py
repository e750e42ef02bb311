"""`make bench-explanations`: which shoppers explain which items, in which situation."""

from __future__ import annotations

from datetime import UTC, datetime

from evaluation.bench_explanations import asks
from recgpt_domain.catalogue import Interaction, UserHistory
from tests.explain.catalogue import BY_ID, EPPENDORF, GORILLA, PYREX

WINTER_EVENING = int(datetime(2026, 12, 6, 19, 0, tzinfo=UTC).timestamp())


def history(user: str, *item_ids: str) -> UserHistory:
    return UserHistory(
        user_id=user, interactions=[Interaction(item_id=i, timestamp=WINTER_EVENING) for i in item_ids]
    )


def test_each_item_is_explained_for_its_buyers_with_their_own_interest_and_moment() -> None:
    histories = [
        history("a", EPPENDORF.item_id, PYREX.item_id, PYREX.item_id),
        history("b", EPPENDORF.item_id, GORILLA.item_id, GORILLA.item_id),
        history("c", GORILLA.item_id),
    ]
    chosen = asks(dict(BY_ID), histories, count=5, per_item=2, seed=0)
    assert {ask.item_id for ask in chosen} == {EPPENDORF.item_id, GORILLA.item_id}, "items with 2 buyers"
    by_user = {(ask.user_id, ask.item_id): ask for ask in chosen}
    assert by_user["a", EPPENDORF.item_id].interest == PYREX.category, "the buyer's most frequent category"
    assert by_user["b", EPPENDORF.item_id].interest == GORILLA.category
    assert by_user["a", EPPENDORF.item_id].situation == {"season": "winter", "time_of_day": "evening"}
    assert asks(dict(BY_ID), histories, count=5, per_item=2, seed=0) == chosen, "the same seed, the same asks"
