"""Late fusion of the routes' candidates."""

from __future__ import annotations

from recgpt.common.v1 import common_pb2
from recgpt_domain.fusion import RouteItems, fuse, normalised_scores


def items(*pairs: tuple[str, float]) -> list[common_pb2.ScoredItem]:
    return [
        common_pb2.ScoredItem(item=common_pb2.Item(item_id=item_id), score=score) for item_id, score in pairs
    ]


def test_scores_are_normalised_by_the_routes_best() -> None:
    assert normalised_scores(items(("a", 4.0), ("b", 2.0), ("c", -1.0))) == [1.0, 0.5, 0.0]


def test_routes_without_positive_scores_are_normalised_by_rank() -> None:
    assert normalised_scores(items(("a", -0.1), ("b", -0.5))) == [1.0, 0.5]
    assert normalised_scores([]) == []


def test_an_item_of_both_routes_gets_both_contributions_and_names() -> None:
    collaborative = RouteItems("collaborative", 0.6, items(("a", 10.0), ("b", 5.0)))
    content = RouteItems("content", 0.4, items(("b", 0.9), ("c", 0.45)))

    fused = fuse([collaborative, content], exclude=set())

    assert [(c.item.item_id, c.route) for c in fused] == [
        ("b", "collaborative+content"),
        ("a", "collaborative"),
        ("c", "content"),
    ]
    assert [round(c.score, 6) for c in fused] == [0.7, 0.6, 0.2]


def test_excluded_repeated_and_empty_ids_are_dropped() -> None:
    route = RouteItems("content", 1.0, items(("a", 1.0), ("seen", 0.9), ("a", 0.8), ("", 0.7)))

    fused = fuse([route], exclude={"seen"})

    assert [c.item.item_id for c in fused] == ["a"]


def test_a_route_with_zero_weight_is_left_out() -> None:
    fused = fuse([RouteItems("content", 0.0, items(("a", 1.0)))], exclude=set())
    assert fused == []


def test_a_tag_route_item_keeps_its_tag_and_interest_when_fused() -> None:
    tagged = [
        common_pb2.ScoredItem(item=common_pb2.Item(item_id=i), score=1.0, tag=f"tag {i}", interest="science")
        for i in ("a", "c")
    ]
    collaborative = RouteItems("collaborative", 0.5, items(("a", 2.0), ("b", 1.0)))

    fused = {c.item.item_id: c for c in fuse([collaborative, RouteItems("tag", 0.5, tagged)], exclude=())}

    assert (fused["a"].route, fused["a"].tag, fused["a"].interest) == (
        "collaborative+tag",
        "tag a",
        "science",
    )
    assert (fused["b"].tag, fused["b"].interest) == ("", "")
    assert (fused["c"].route, fused["c"].tag) == ("tag", "tag c")
