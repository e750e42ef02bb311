"""The key-family table against the code: every store run on a fresh prefix writes only keys of a family,
every family is written by some store, and no module builds a key name outside the table."""

from __future__ import annotations

import ast
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from recgpt_domain.key_families import FAMILIES, PREFIX, KeyFamily, family_of, markdown_table
from tests.recgpt_domain.store_writes import Snapshotting, write_with_every_store

SERVICES = Path(__file__).resolve().parents[2] / "services"
# A placeholder stands for this in the sample key of a family, and of a key name found in the sources.
SAMPLE = "x"


async def test_every_key_the_stores_write_has_a_family_and_every_family_a_writer(
    redis_client: aioredis.Redis, redis_url: str, redis_prefix: str
) -> None:
    loader = Snapshotting(connection_pool=redis.ConnectionPool.from_url(redis_url, decode_responses=True))
    loader.prefix = redis_prefix
    try:
        keys = await write_with_every_store(redis_client, loader, redis_prefix)
    finally:
        loader.close()
    homeless = sorted(key for key in keys if family_of(key, redis_prefix) is None)
    assert homeless == [], "keys no family of recgpt_domain.key_families names"
    written = {family_of(key, redis_prefix) for key in keys}
    unwritten = [family.pattern for family in FAMILIES if family not in written]
    assert unwritten == [], "families no store wrote: a stale entry, or a store this test does not run"


def test_each_family_is_named_once_by_an_existing_owner() -> None:
    for family in FAMILIES:
        assert importlib.util.find_spec(family.owner) is not None, family.owner
        assert family_of(sample(family.pattern, "p"), "p") is family
    assert len({family.pattern for family in FAMILIES}) == len(FAMILIES)


def test_a_family_is_refused_without_a_bound_or_a_reason() -> None:
    with pytest.raises(ValueError, match="bound"):
        KeyFamily("<prefix>:a:<user>", "recgpt_domain.preferences", "string", "forever", "x.")
    with pytest.raises(ValueError, match="says why"):
        KeyFamily("<prefix>:a:<user>", "recgpt_domain.preferences", "string", "none: ", "x.")
    with pytest.raises(ValueError, match="starts with"):
        KeyFamily("a:<user>", "recgpt_domain.preferences", "string", "TTL 1 day", "x.")


def sample(pattern: str, prefix: str) -> str:
    return re.sub(r"<[^>]+>", SAMPLE, pattern.replace(PREFIX, prefix, 1))


def key_names_in_sources() -> Iterator[tuple[str, str]]:
    """(where, pattern) of every f-string that starts with a prefix and a colon: a Redis key, a key base
    (`{prefix}:refresh-queue:{{{method}}}`) or a SCAN pattern. Keys built otherwise escape this check (the
    stores' run above still sees them)."""
    for path in sorted(SERVICES.rglob("*.py")):
        if path.relative_to(SERVICES).parts[0] == "recgpt":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.JoinedStr) or len(node.values) < 2:
                continue
            first, second = node.values[0], node.values[1]
            if not (isinstance(first, ast.FormattedValue) and "prefix" in ast.unparse(first.value)):
                continue
            if not (isinstance(second, ast.Constant) and str(second.value).startswith(":")):
                continue
            parts = [PREFIX] + [
                str(part.value) if isinstance(part, ast.Constant) else "<name>" for part in node.values[1:]
            ]
            yield f"{path.relative_to(SERVICES)}:{node.lineno}", "".join(parts)


def names_a_family(pattern: str) -> bool:
    """Whether the key name (or the start of one) fits the sample key of some family."""
    literal = [re.escape(part).replace(r"\*", ".*") for part in re.split(r"<[^>]+>", pattern)]
    found = re.compile(".+".join(literal))
    return any(found.match(sample(family.pattern, PREFIX)) for family in FAMILIES)


def test_no_module_builds_a_key_outside_the_table() -> None:
    names = list(key_names_in_sources())
    assert len(names) >= 15, "the scan no longer finds the stores' key names"
    outside = [f"{where}: {pattern}" for where, pattern in names if not names_a_family(pattern)]
    assert outside == [], "add these key families to recgpt_domain.key_families"


def test_the_source_check_sees_a_new_key() -> None:
    assert not names_a_family("<prefix>:experiments:aggregates:<name>")
    assert names_a_family("<prefix>:{experiments}:event-id:")
    assert names_a_family("<prefix>:staging:<name>:*")


def test_the_markdown_table_has_a_row_per_family() -> None:
    rows = markdown_table().splitlines()
    assert len(rows) == 2 + len(FAMILIES)
    assert all(row.count(" | ") == 5 for row in rows[2:])


def test_the_operations_guide_shows_the_table() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text(encoding="utf-8")
    assert markdown_table() in guide, "docs/operations.md: paste key_families.markdown_table()"
