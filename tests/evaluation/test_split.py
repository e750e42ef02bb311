"""Leave-last-out splits and the seeded choice of users."""

from __future__ import annotations

from evaluation.split import choose, eligible, leave_last_out
from recgpt_domain.catalogue import Interaction, UserHistory


def history(user_id: str, *item_ids: str) -> UserHistory:
    return UserHistory(
        user_id=user_id,
        interactions=[Interaction(item_id=i, timestamp=t) for t, i in enumerate(item_ids, start=1)],
    )


def test_the_last_interaction_is_the_target() -> None:
    split = leave_last_out(history("u", "a", "b", "a", "c"))
    assert split is not None
    assert split.history_ids == ["a", "b", "a"]
    assert split.target.item_id == "c"
    assert split.recent_ids() == ["a", "b"]
    assert split.recent_ids(1) == ["a"]


def test_users_with_fewer_than_two_interactions_are_not_eligible() -> None:
    assert leave_last_out(history("u", "a")) is None
    assert leave_last_out(UserHistory(user_id="u", interactions=[])) is None
    found = eligible([history("b", "x", "y"), history("one", "x"), history("a", "x", "y", "z")])
    assert [split.user_id for split in found] == ["a", "b"]


def test_choice_is_deterministic_by_seed_and_order_independent() -> None:
    histories = [history(f"u{n}", "x", "y") for n in range(50)]
    first = [s.user_id for s in choose(eligible(histories), 10, seed=7)]
    again = [s.user_id for s in choose(eligible(reversed(histories)), 10, seed=7)]
    other = [s.user_id for s in choose(eligible(histories), 10, seed=8)]
    assert first == again
    assert len(set(first)) == 10
    assert first != other
    assert len(choose(eligible(histories), 500, seed=0)) == 50
