"""Choosing the users of a batch run."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis

from nearline.users import all_users, parse_ids, read_ids
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.catalogue import Interaction


def test_ids_are_split_trimmed_and_deduplicated() -> None:
    assert parse_ids(["a, b,,a", " c ", "b"]) == ["a", "b", "c"]


def test_users_file_skips_blanks_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "users.txt"
    path.write_text("u1\n\n# all of them\nu2  # the second\nu1\n")
    assert read_ids(path) == ["u1", "u2"]


async def test_all_users_are_in_numeric_then_text_order(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    store = BehaviourStore(redis_client, redis_prefix)
    for user_id in ("10", "b", "2", "a", "1"):
        await store.append(user_id, [Interaction(item_id="x")])
    assert await all_users(store) == ["1", "2", "10", "a", "b"]
