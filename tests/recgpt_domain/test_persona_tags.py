"""Experts' pools, the union of their picks with duplicates counted, and the arbiter's top-up."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from recgpt_domain.catalogue import Interaction, Item, UserHistory
from recgpt_domain.environment import DAY_S, Trends, environment_text, season
from recgpt_domain.persona_tags import ExpertPools, arbitrated, expert_pool, round_robin, union_of

NAMES = {c: f"name {c}" for c in "ABCDEFGH"}


def test_round_robin_takes_the_first_of_each_then_the_second() -> None:
    assert list(round_robin([["a", "b", "c"], ["x"], ["1", "2"]])) == ["a", "x", "1", "b", "2", "c"]


def test_a_pool_starts_with_the_personas_categories_then_alternates_followers_and_neighbours() -> None:
    follows = {"A": ["B", "C", "Z"], "D": ["C", "E"]}
    # Z has no name: never offered.
    pool = expert_pool(["A", "D"], follows, ["F", "A", "G"], NAMES, size=10)
    # Rows: (A, B, C, F), (D, C, E, A), (Z, G).
    assert pool == ["A", "B", "C", "F", "D", "E", "G"]
    assert expert_pool(["A", "D"], follows, ["F"], NAMES, size=3) == ["A", "B", "C"]
    assert expert_pool([], {}, [], NAMES, size=3) == []


def test_the_union_counts_duplicates_and_keeps_the_first_proposers_persona() -> None:
    union = union_of([("p1", ["A", "B", "C"]), ("p2", ["B", "D"]), ("p3", ["A"])])
    # Round robin: A(p1) B(p2) A(p3, dup) B(p1, dup) D(p2) C(p1).
    assert union.categories == ["A", "B", "D", "C"]
    assert union.persona_of == {"A": "p1", "B": "p2", "D": "p2", "C": "p1"}
    assert (union.picks, union.duplicates, union.duplicate_share) == (6, 2, 2 / 6)
    assert union_of([]).duplicate_share == 0.0


def test_the_arbiters_picks_come_first_then_the_unions_order_fills_up() -> None:
    union = ["A", "B", "C", "D"]
    assert arbitrated(["C", "X", "C"], union, 3) == (["C", "A", "B"], 2)
    assert arbitrated(["D", "C", "B", "A"], union, 2) == (["D", "C"], 0)
    assert arbitrated([], union, 10) == (union, 4)


def test_trends_count_the_last_days_of_the_log_and_the_block_names_date_and_season() -> None:
    items = {
        i: Item(item_id=i, title=i, category_path=["Root", c]) for i, c in [("a", "Glues"), ("b", "Gloves")]
    }
    end = int(datetime(2026, 12, 6, tzinfo=UTC).timestamp())
    history = UserHistory(
        user_id="u",
        interactions=[
            Interaction(item_id="a", timestamp=end - 30 * DAY_S),  # too old
            Interaction(item_id="a", timestamp=end - 30 * DAY_S),
            Interaction(item_id="b", timestamp=end - DAY_S),
            Interaction(item_id="a", timestamp=end),
            Interaction(item_id="b", timestamp=end),
        ],
    )
    trends = Trends.count([history], items, days=14, top=5)
    assert (trends.categories, trends.log_end_unix) == (["Gloves", "Glues"], end)
    text = environment_text(end, trends, {"region": " north ", "": "x"})
    assert text.splitlines() == [
        "Date: 2026-12-06 (winter)",
        "Trending in the shop over the last 14 days: Gloves, Glues",
        "Customer: region: north",
    ]
    assert season(datetime(2026, 7, 1, tzinfo=UTC)) == "summer"
    assert Trends.count([], items, 14, 5).categories == []


class Near:
    """Categories near a text, recording each batch it is asked."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def nearest(self, texts: Sequence[str], count: int) -> list[list[str]]:
        self.asked.append(list(texts))
        return [(["F", "G"] if "lab" in text else ["H"])[:count] for text in texts]


def test_expert_pools_take_the_categories_near_each_persona_in_one_batch() -> None:
    near = Near()
    pools = ExpertPools({"A": ["B", "C"]}, NAMES, near, near_count=2, size=4)
    made = pools.pools([("lab persona", ["A"]), ("shop persona", ["A"]), ("lab persona", ["D"])])
    # Rows: (A, B, F), (-, C, G): the persona's, its followers and its neighbours in turn.
    assert made == [["A", "B", "F", "C"], ["A", "B", "H", "C"], ["D", "F", "G"]]
    assert near.asked == [["lab persona", "shop persona"]], "each text once, in one batch"
    assert pools.pool("shop persona", ["A"]) == made[1]
    assert ExpertPools({}, NAMES, near, near_count=0).pool("lab", ["A"]) == ["A"]
    assert ExpertPools({}, NAMES, None).pool("lab", ["A", "Z"]) == ["A"], "Z has no name"
    assert len(near.asked) == 2, "no neighbours asked for when the pools take none"
