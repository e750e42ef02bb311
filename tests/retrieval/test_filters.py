"""Attribute filters as row masks over the small catalogue."""

from __future__ import annotations

from recgpt.retrieval.v1 import retrieval_pb2
from retrieval.filters import FilterCompiler, compile_filter
from retrieval.item_table import ItemTable
from tests.retrieval.catalogue_folder import ITEMS

TABLE = ItemTable(ITEMS)


def kept(attribute_filter: retrieval_pb2.AttributeFilter) -> set[str]:
    mask = compile_filter(TABLE, attribute_filter)
    return {TABLE.ids[row] for row in mask.nonzero()[0]}


def test_category_matches_any_level_whole_and_case_insensitive() -> None:
    assert kept(retrieval_pb2.AttributeFilter(categories=["beakers"])) == {"b1", "b2"}
    assert kept(retrieval_pb2.AttributeFilter(categories=["lab & scientific products"])) == {
        "m1", "m2", "b1", "b2",
    }  # fmt: skip
    assert kept(retrieval_pb2.AttributeFilter(categories=["Beaker"])) == set()


def test_brands_and_categories_intersect_and_exclusions_win() -> None:
    assert kept(retrieval_pb2.AttributeFilter(brands=["3m"])) == {"s2", "p2"}
    assert kept(retrieval_pb2.AttributeFilter(brands=["3M"], categories=["Safety"])) == {"p2"}
    both = retrieval_pb2.AttributeFilter(categories=["Glues"], exclude_brands=["gorilla"])
    assert kept(both) == set()
    dropped = kept(retrieval_pb2.AttributeFilter(exclude_categories=["Lab & Scientific Products"]))
    assert dropped == {"g1", "g2", "s1", "s2", "t1", "t2", "p1", "p2"}


def test_compiler_adds_exclusions_and_returns_none_when_nothing_is_filtered() -> None:
    compiler = FilterCompiler(TABLE)
    assert compiler.allowed(retrieval_pb2.AttributeFilter(), []) is None
    mask = compiler.allowed(retrieval_pb2.AttributeFilter(categories=["Beakers"]), [TABLE.row_of["b1"]])
    assert mask is not None
    assert {TABLE.ids[row] for row in mask.nonzero()[0]} == {"b2"}
    # The cached mask is not changed by one request's exclusions.
    again = compiler.allowed(retrieval_pb2.AttributeFilter(categories=["Beakers"]), [])
    assert again is not None
    assert {TABLE.ids[row] for row in again.nonzero()[0]} == {"b1", "b2"}
