"""Preference memory: merging by cue, and a real Redis where concurrent commands never lose an update."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from recgpt_domain.preferences import Change, Constraint, Preferences, PreferenceStore, merge


def category(name: str) -> Constraint:
    return Constraint(field="category", value=name)


def add(**fields: object) -> Change:
    return Change(added=Preferences(**fields), removed=Preferences())


def test_compatible_preferences_accumulate_and_the_newest_wins_a_conflict() -> None:
    prefs = merge(Preferences(), add(hard_negative=[category("Tape")], soft_positive=["glass"]))
    prefs = merge(prefs, add(hard_negative=[category("Glue")], soft_negative=["plastic"]))
    assert prefs.hard_negative == [category("Tape"), category("Glue")]
    assert prefs.soft_positive == ["glass"] and prefs.soft_negative == ["plastic"]
    prefs = merge(prefs, add(hard_positive=[category("Tape")], soft_positive=["plastic"]))
    assert prefs.hard_negative == [category("Glue")]
    assert prefs.hard_positive == [category("Tape")]
    assert prefs.soft_negative == [] and prefs.soft_positive == ["glass", "plastic"]


def test_a_new_only_replaces_the_field_and_a_new_bound_replaces_the_old() -> None:
    prefs = merge(
        Preferences(), add(hard_positive=[category("A"), Constraint(field="year", op="gte", value="1990")])
    )
    prefs = merge(prefs, add(hard_positive=[category("B"), Constraint(field="year", op="gte", value="2000")]))
    assert prefs.hard_positive == [category("B"), Constraint(field="year", op="gte", value="2000")]
    # A bound that leaves no room drops the opposite one.
    prefs = merge(prefs, add(hard_positive=[Constraint(field="year", op="lte", value="1980")]))
    assert [c for c in prefs.hard_positive if c.field == "year"] == [
        Constraint(field="year", op="lte", value="1980")
    ]


def test_removal_and_reset() -> None:
    prefs = Preferences(hard_negative=[category("Tape")], soft_positive=["glass"])
    removed = merge(prefs, Change(Preferences(), Preferences(hard_negative=[category("tape")])))
    assert removed.hard_negative == [] and removed.soft_positive == ["glass"]
    assert merge(prefs, Change(Preferences(), Preferences(), reset=True)).is_empty()


async def test_empty_memory_reads_as_version_zero(redis_client: aioredis.Redis, redis_prefix: str) -> None:
    stored = await PreferenceStore(redis_client, redis_prefix).read("nobody")
    assert stored.version == 0 and stored.preferences.is_empty()


async def test_concurrent_commands_of_one_user_never_lose_an_update(
    redis_client: aioredis.Redis, redis_url: str, redis_prefix: str
) -> None:
    # Separate connections, so that the transactions really interleave.
    clients = [aioredis.from_url(redis_url) for _ in range(8)]
    try:
        stores = [PreferenceStore(client, redis_prefix, history_limit=5) for client in clients]
        changes = [add(hard_negative=[category(f"C{i}")]) for i in range(20)]
        await asyncio.gather(
            *(stores[i % len(stores)].apply("u1", change, f"no C{i}") for i, change in enumerate(changes))
        )
        stored = await stores[0].read("u1")
        assert stored.version == 20
        assert {c.value for c in stored.preferences.hard_negative} == {f"C{i}" for i in range(20)}
        history = await stores[0].history("u1")
        assert [turn.version for turn in history] == [20, 19, 18, 17, 16]  # bounded
    finally:
        for client in clients:
            await client.aclose()


async def prefix_keys(client: aioredis.Redis, prefix: str) -> list[str]:
    return sorted([str(key) async for key in client.scan_iter(match=f"{prefix}:*", count=1000)])


async def test_reads_and_changes_that_leave_nothing_create_no_key(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    """Made-up ids cost no memory: a read, a reset (DELETE) of nothing, a removal of what is not there."""
    store = PreferenceStore(redis_client, redis_prefix)
    assert (await store.read("made-up")).version == 0
    assert (
        await store.apply("made-up", Change(Preferences(), Preferences(), reset=True), "(reset)")
    ).version == 0
    nothing = Change(Preferences(), Preferences(hard_negative=[category("Tape")]))
    assert (await store.apply("made-up", nothing, "Tape is fine")).version == 0
    assert await store.history("made-up") == []
    assert await prefix_keys(redis_client, redis_prefix) == []

    await store.apply("real", add(soft_positive=["glass"]), "glass please")
    reset = await store.apply("real", Change(Preferences(), Preferences(), reset=True), "(reset)")
    assert reset.version == 2 and reset.preferences.is_empty()  # a user with preferences: the reset is kept


async def test_the_history_is_trimmed_and_expires_and_the_preferences_last(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    store = PreferenceStore(redis_client, redis_prefix, history_limit=3, history_ttl_s=600)
    for i in range(5):
        await store.apply("u1", add(soft_positive=[f"w{i}"]), f"w{i}")
    assert [turn.version for turn in await store.history("u1")] == [5, 4, 3]
    assert 590_000 < await redis_client.pttl(store.history_key("u1")) <= 600_000
    assert await redis_client.pttl(store.key("u1")) == -1  # state: no TTL
