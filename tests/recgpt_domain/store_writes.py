"""Every store's writes, once each, under a prefix: what the key-family and cluster tests run."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis

from experiments.events import Event, EventStore
from experiments.exposures import Exposure, ExposureLog
from experiments.ledger import LedgerStore
from experiments.store import ConfigStore
from explain.cache import CachedExplanation, ExplanationCache
from gateway.auth.keys import KeyStore, Scope, new_key
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.catalogue import Interaction, UserHistory
from recgpt_domain.datasets import redis_loader
from recgpt_domain.preferences import Change, Preferences, PreferenceStore
from recgpt_domain.profile_store import ProfileStore, UserProfile
from recgpt_domain.refresh_queue import RefreshQueue, RetryPolicy
from tests.experiments.configs import config, two_arms


class Snapshotting(redis.Redis):
    """A client that lists the prefix's keys just before the loader's swap script: the staging keys live
    only until then."""

    prefix = ""
    seen: frozenset[str] = frozenset()

    def register_script(self, script: Any) -> Any:
        self.seen |= {str(key) for key in self.scan_iter(match=f"{self.prefix}:*", count=1000)}
        return super().register_script(script)


async def write_with_every_store(client: aioredis.Redis, loader: redis.Redis, prefix: str) -> set[str]:
    """Runs each store's writes once under `prefix` (the dataset loader's through `loader`); every key they
    left, and the keys a `Snapshotting` loader saw on the way."""
    await BehaviourStore(client, prefix).append("u1", [Interaction(item_id="i1")])
    history = UserHistory(user_id="u2", interactions=[Interaction(item_id="i2")])
    redis_loader.load_histories(loader, prefix, [history], "fingerprint")
    profile = UserProfile(user_id="u1", interests=[], tags=[], model="m", prompt_version="v1")
    await ProfileStore(client, prefix).put(profile)
    cache = ExplanationCache(client, prefix, ttl_s=60, fallback_ttl_s=60)
    entry = CachedExplanation(text="t", interest="glass", item_id="i1", model="m", prompt_version="v1")
    await cache.put_many([(cache.key("recgpt-v1", "m", "", "v1", "glass", "i1"), entry)])
    queue = RefreshQueue(client, prefix, retry=RetryPolicy(max_attempts=1))
    await queue.enqueue("u1")
    [taken] = await queue.take("worker", 1)
    await queue.fail("worker", taken, "boom")  # the last attempt: a dead letter
    await queue.enqueue("u2")
    change = Change(added=Preferences(soft_positive=["glass"]), removed=Preferences())
    await PreferenceStore(client, prefix).apply("u1", change, "glass please")
    await ConfigStore(client, prefix).put(config(two_arms()), "test")
    exposures = ExposureLog(client, prefix, flush_s=1, max_buffer=10, timeout_s=5)
    exposures.record(Exposure("u1", "r1", "", 1, "baseline", 200, 1.0, False, False, False, False))
    await exposures.flush()
    event = Event(event_id="e1", type="click", user_id="u1", item_id="i1")
    await EventStore(client, prefix, dedup_ttl_s=60).store([(event, "")], revision=1)
    ledgers = LedgerStore(client, prefix)
    ledger = await ledgers.load("exp-a", None)
    ledger.tally.set_pre_window((0, 1))
    ledger.tally.pre_clicks["u1"] = 1
    await ledgers.save(ledger)
    assert await ledgers.take_lease("test", lease_s=60)
    await KeyStore(client, prefix).add(new_key("test", frozenset({Scope.RECOMMEND}))[0])
    left = {str(key) async for key in client.scan_iter(match=f"{prefix}:*", count=1000)}
    return left | (loader.seen if isinstance(loader, Snapshotting) else set())
