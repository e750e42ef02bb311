"""The ledger job: a report read from the ledger and the streams' tail equals one folded from whole streams,
survives trimmed streams, counts nothing twice, takes a pre-period window set after its clicks, and runs on
one gateway at a time."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from experiments.allocation import reweight
from experiments.config import ExperimentConfig
from experiments.events import EventStore, iter_events
from experiments.exposures import ExposureLog, stream_key
from experiments.ledger import LedgerJob, LedgerStore
from experiments.phases import ConfigRevision, Revision
from experiments.report import build_report
from experiments.tally import NoveltyJudge
from tests.experiments.configs import config, two_arms
from tests.experiments.records import event, exposure


def reweighted(cfg: ExperimentConfig, weights: dict[str, float]) -> ExperimentConfig:
    layer = cfg.layers[0]
    moved = layer.model_copy(update={"experiments": [reweight(layer.experiments[0], weights)]})
    return cfg.model_copy(update={"layers": [moved]})


class Setup:
    def __init__(self, client: aioredis.Redis, prefix: str, history: list[Revision]) -> None:
        self.client = client
        self.prefix = prefix
        self.history = history
        self.exposures = ExposureLog(client, prefix, 1.0, 10_000, 5.0)
        self.events = EventStore(client, prefix, 600)

    def job(self, **options: Any) -> LedgerJob:
        async def history() -> AsyncIterator[ConfigRevision]:
            for entry in self.history:
                yield entry

        async def novelty() -> NoveltyJudge | None:
            return None

        return LedgerJob(
            LedgerStore(self.client, self.prefix),
            history,
            lambda: self.history[-1],
            novelty,
            **{"settle_s": 0.0, **options},
        )

    async def visit(self, user: str, arm: str, revision: int, clicks: int = 1, price: float = 0.0) -> None:
        label = f"exp-a:{arm}"
        self.exposures.record(exposure(user, label, revision))
        await self.exposures.flush()
        batch = [(event("impression", user), label)] + [(event("click", user), label) for _ in range(clicks)]
        if price:
            batch.append((event("purchase", user, price=price), label))
        await self.events.store(batch, revision)

    async def report(self, phase: int | None = None) -> dict[str, Any]:
        built = await build_report(
            self.client, self.prefix, "exp-a", self.history, self.history[-1], phase=phase
        )
        built.pop("ledger")
        built.pop("timeline")  # hourly in the ledger, per event from the streams
        return built

    async def forget_ledger(self) -> None:
        store = LedgerStore(self.client, self.prefix)
        await self.client.delete(store.key("exp-a"), store.pre_key("exp-a"))


def two_phases() -> list[Revision]:
    first = config(two_arms(purchase_value_cap=50.0))
    now_ms = int(time.time() * 1000)
    return [
        Revision(1, now_ms - 60_000, first),
        Revision(2, now_ms, reweighted(first, {"control": 0.3, "treatment": 0.7})),
    ]


async def test_a_report_from_the_ledger_and_the_tail_equals_one_from_whole_streams(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    setup = Setup(redis_client, redis_prefix, two_phases())
    for n in range(12):
        await setup.visit(f"a{n}", "control" if n % 2 else "treatment", 1, clicks=n % 3, price=20.0 * n)
    assert await setup.job().run_once() > 0
    for n in range(12):
        await setup.visit(f"b{n}", "treatment" if n % 3 else "control", 2, clicks=n % 4, price=9.0)
        await setup.visit(f"a{n}", "control", 2)  # carried over into phase 2
    await setup.job().run_once()
    await setup.visit("late", "control", 2, clicks=2)  # in the tail only

    from_ledger = [await setup.report(1), await setup.report(2)]
    await setup.forget_ledger()
    from_streams = [await setup.report(1), await setup.report(2)]

    assert from_ledger == from_streams
    assert from_ledger[1]["excluded_users"]["first_exposed_in_an_earlier_phase"] == 12
    assert from_ledger[0]["revenue"]["purchases_capped"] > 0


async def test_trimmed_streams_keep_who_is_analysed_and_a_round_counts_nothing_twice(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    setup = Setup(redis_client, redis_prefix, two_phases()[:1])
    for n in range(10):
        await setup.visit(f"u{n}", "control" if n % 2 else "treatment", 1, clicks=2)
    await setup.job().run_once()
    before = await setup.report()
    await setup.job().run_once()  # a new gateway: reads the ledger, folds nothing new
    await redis_client.xtrim(stream_key(redis_prefix), maxlen=0)
    await redis_client.xtrim(setup.events.stream, maxlen=0)

    after = await setup.report()
    assert after == before
    assert sum(arm["users"] for arm in after["arms"].values()) == 10
    assert sum(arm["totals"]["clicks"] for arm in after["arms"].values()) == 20


async def test_a_pre_period_window_set_after_its_clicks_were_folded_counts_them(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    setup = Setup(redis_client, redis_prefix, [Revision(1, None, config(two_arms()))])
    await setup.events.store([(event("click", "u1"), ""), (event("click", "u1"), "")], 1)
    await setup.job().run_once()  # no window yet: nothing counted for it
    stored_ms = max([int(e["ts"]) async for e in iter_events(redis_client, redis_prefix)])
    start = datetime.fromtimestamp((stored_ms + 1) / 1000, UTC)
    setup.history.append(Revision(2, None, config(two_arms(start=start, pre_period_days=1))))
    await setup.visit("u1", "control", 2)
    await setup.job().run_once()

    report = await setup.report()
    assert report["cuped"]["users_with_pre_period_clicks"] == 1


async def test_one_gateway_at_a_time_folds(redis_client: aioredis.Redis, redis_prefix: str) -> None:
    setup = Setup(redis_client, redis_prefix, two_phases()[:1])
    await setup.visit("u1", "control", 1)
    first, second = setup.job(), setup.job()
    assert await first.run_once() > 0
    await setup.visit("u2", "control", 1)
    assert await second.run_once() == 0, "the lease is held by the first"
    assert await first.run_once() > 0


async def test_an_event_whose_exposure_came_later_than_the_settle_time_is_counted_apart(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    setup = Setup(redis_client, redis_prefix, two_phases()[:1])
    await setup.events.store([(event("click", "early"), "exp-a:control")], 1)
    await setup.job().run_once()
    await setup.visit("early", "control", 1)

    report = await setup.report()
    assert report["events_before_exposure"] == 1
    assert report["arms"]["control"]["totals"]["clicks"] == 1, "only the click after the exposure"
