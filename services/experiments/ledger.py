"""The experiments' ledgers: each experiment's fold of the streams (`tally.ExperimentTally`), kept in Redis
by a job so that a report reads per-user facts instead of both streams, and trimming a stream no longer
changes who is analysed.

Keys, under `{prefix}:{experiments}:` (the streams' hash tag, so that one transaction holds them):
- `ledger:<experiment>`      hash: `meta` (cursors into both streams, guardrails, counts) and `u:<user>`, the
                             user's facts (arm, first phase, counts, hourly timeline)
- `ledger-pre:<experiment>`  hash: user -> clicks inside the experiment's pre-period window
- `ledger-lease`             which gateway runs the job now

The job (one gateway at a time, by the lease) folds, every `every_s`, the exposures written so far and
then the events up to `settle_s` ago (an exposure is buffered up to a second before it is written, so it
may land after its user's first events: folding events later keeps each user's exposure first), at most
`page` entries of each a round, and saves the users it touched with the new cursors in one MULTI/EXEC: a
round is saved whole or not at all, so a job killed mid-round redoes it, and nothing is counted twice. A
report loads the ledger and folds the streams' tail past its cursors, so it is as fresh as the streams. A
ledger not saved for `ttl_s` (its experiment left the config) expires.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

from experiments import events as events_stream
from experiments import exposures as exposures_stream
from experiments.config import ExperimentConfig
from experiments.phases import ConfigRevision, PhasePlan, UnknownExperiment, plan_phases
from experiments.streams import iter_entries
from experiments.tally import ExperimentTally, Guardrail, NoveltyJudge, UserTally, arm_of, pre_window
from recgpt_serving.metrics import EXPERIMENT_LEDGER_FOLDED, EXPERIMENT_LEDGER_LAG

log = logging.getLogger(__name__)

# Entries of each stream folded per round (and per saved transaction).
PAGE = 20_000
SETTLE_S = 60.0
EVERY_S = 60.0
# A ledger whose experiment left the config lasts as long as the events it was folded from.
LEDGER_TTL_S = 90 * 86_400.0
_META = "meta"
_USER = "u:"

# KEYS: lease. ARGV: token, ms. Takes a free lease, or extends one this token holds.
_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""


@dataclass
class Cursors:
    """The last entry folded from each stream ("0-0": none); `upto_ms` bounds both."""

    exposures: str = "0-0"
    events: str = "0-0"
    upto_ms: int = 0


@dataclass
class Ledger:
    tally: ExperimentTally
    cursors: Cursors
    # Saves so far: a job holding an older generation in memory reloads.
    generation: int = 0


class LedgerStore:
    def __init__(self, client: aioredis.Redis, prefix: str, ttl_s: float = LEDGER_TTL_S) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_ms = int(ttl_s * 1000)
        self.lease_key = f"{prefix}:{{experiments}}:ledger-lease"
        self._lease = client.register_script(_LEASE)

    def key(self, experiment_id: str) -> str:
        return f"{self.prefix}:{{experiments}}:ledger:{experiment_id}"

    def pre_key(self, experiment_id: str) -> str:
        return f"{self.prefix}:{{experiments}}:ledger-pre:{experiment_id}"

    async def generation(self, experiment_id: str) -> int:
        raw = await self.client.hget(self.key(experiment_id), _META)
        return 0 if raw is None else int(json.loads(raw)["generation"])

    async def load(self, experiment_id: str, novelty: NoveltyJudge | None) -> Ledger:
        """The stored ledger, or an empty one at the streams' start."""
        tally = ExperimentTally(experiment_id, novelty)
        meta: dict[str, Any] | None = None
        async for field, raw in self.client.hscan_iter(self.key(experiment_id), count=2000):
            if field == _META:
                meta = json.loads(raw)
            elif field.startswith(_USER):
                tally.users[field[len(_USER) :]] = _user_from(json.loads(raw))
        async for user, clicks in self.client.hscan_iter(self.pre_key(experiment_id), count=2000):
            tally.pre_clicks[user] = int(clicks)
        if meta is None:
            tally.users.clear()
            tally.pre_clicks.clear()
            return Ledger(tally, Cursors())
        _meta_into(tally, meta)
        return Ledger(tally, Cursors(**meta["cursors"]), int(meta["generation"]))

    async def save(self, ledger: Ledger) -> None:
        """The users touched since the last save, the meta and the cursors, in one transaction."""
        tally = ledger.tally
        ledger.generation += 1
        key, pre_key = self.key(tally.experiment_id), self.pre_key(tally.experiment_id)
        fields: dict[FieldT, EncodableT] = {_META: json.dumps(_meta_of(tally, ledger))}
        for name in tally.changed:
            fields[f"{_USER}{name}"] = json.dumps(_user_to(tally.users[name]))
        reset_pre = tally.pre_reset
        pre_users = set(tally.pre_clicks) if reset_pre else tally.changed_pre
        pre: dict[FieldT, EncodableT] = {
            name: tally.pre_clicks[name] for name in pre_users if name in tally.pre_clicks
        }
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            if reset_pre:
                pipe.delete(pre_key)
            if pre:
                pipe.hset(pre_key, mapping=pre)
            pipe.pexpire(key, self.ttl_ms)
            pipe.pexpire(pre_key, self.ttl_ms)
            await pipe.execute()
        tally.changed.clear()
        tally.changed_pre.clear()
        tally.pre_reset = False

    async def take_lease(self, token: str, lease_s: float) -> bool:
        return bool(await self._lease(keys=[self.lease_key], args=[token, int(lease_s * 1000)]))

    async def oldest_event_cursor_ms(self, experiment_ids: Iterable[str]) -> int | None:
        """The oldest events cursor among these experiments' ledgers (None when none has one): events
        newer than it are not folded yet, so trimming must keep them."""
        oldest = None
        for experiment_id in experiment_ids:
            raw = await self.client.hget(self.key(experiment_id), _META)
            if raw is not None:
                at = _id_key(json.loads(raw)["cursors"]["events"])[0]
                oldest = at if oldest is None else min(oldest, at)
        return oldest


@dataclass(frozen=True)
class Folded:
    exposures: int
    events: int

    def full(self, page: int | None) -> bool:
        return page is not None and page in (self.exposures, self.events)


async def fold_streams(
    client: aioredis.Redis,
    prefix: str,
    ledger: Ledger,
    plan: PhasePlan,
    *,
    events_upto_ms: int | None = None,
    page: int | None = None,
) -> Folded:
    """Folds the exposures and then the events past the ledger's cursors, at most `page` of each (None: all):
    exposures to the stream's end, events up to `events_upto_ms` (None: the end) and never past the last
    exposure folded when a page of them stopped early. Moves the cursors."""
    tally, cursors = ledger.tally, ledger.cursors
    if tally.set_pre_window(pre_window(plan)):
        await _fold_pre_window(client, prefix, tally, cursors.events)
    exposures = 0
    stream = exposures_stream.stream_key(prefix)
    async for entry_id, fields in iter_entries(client, stream, after=cursors.exposures, limit=page):
        tally.add_exposure(exposures_stream.unpack(fields["e"]), plan)
        cursors.exposures = entry_id
        exposures += 1
    limit = "+" if events_upto_ms is None else str(events_upto_ms)
    if page is not None and exposures == page:
        limit = cursors.exposures if limit == "+" else min(limit, cursors.exposures, key=_id_key)
    events = 0
    async for entry_id, fields in iter_entries(
        client, events_stream.stream_key(prefix), after=cursors.events, upto=limit, limit=page
    ):
        tally.add_event(fields, plan)
        cursors.events = entry_id
        events += 1
    folded = Folded(exposures, events)
    if events_upto_ms is not None and not folded.full(page):
        cursors.upto_ms = max(cursors.upto_ms, events_upto_ms)
    EXPERIMENT_LEDGER_FOLDED.labels("exposures").inc(exposures)
    EXPERIMENT_LEDGER_FOLDED.labels("events").inc(events)
    return folded


# Gateways stamp an event's `ts` by their clock, Redis its id by its own: the pre-period scan reads this much
# beyond the window's ends by id, and keeps the events whose `ts` falls inside.
CLOCK_MARGIN_MS = 60_000


async def _fold_pre_window(
    client: aioredis.Redis, prefix: str, tally: ExperimentTally, folded_to: str
) -> None:
    """The new window's clicks among the events folded already (those past `folded_to` come with the fold)."""
    window = tally.pre_window
    if window is None or folded_to == "0-0":
        return
    low = f"{max(0, window[0] - CLOCK_MARGIN_MS)}-0"
    high = min(folded_to, str(window[1] + CLOCK_MARGIN_MS), key=_id_key)
    stream = events_stream.stream_key(prefix)
    async for _, fields in iter_entries(client, stream, after=low, upto=high, inclusive=True):
        if fields.get("type") != "click" or arm_of(fields.get("arms", ""), tally.experiment_id) is not None:
            continue
        if window[0] <= int(fields["ts"]) < window[1]:
            tally.pre_clicks[fields["user"]] += 1
            tally.changed_pre.add(fields["user"])


def _id_key(entry_id: str) -> tuple[int, int]:
    """A stream id (or a bare millisecond time, the last id of that millisecond) as a sortable pair."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq) if seq else 2**64 - 1


class LedgerJob:
    """Keeps every configured experiment's ledger up to date; one gateway at a time holds the lease."""

    def __init__(
        self,
        store: LedgerStore,
        history: Callable[[], AsyncIterator[ConfigRevision]],
        current: Callable[[], ConfigRevision],
        novelty: Callable[[], Awaitable[NoveltyJudge | None]],
        *,
        every_s: float = EVERY_S,
        settle_s: float = SETTLE_S,
        page: int = PAGE,
    ) -> None:
        self.store = store
        self.history = history
        self.current = current
        self.novelty = novelty
        self.every_s = every_s
        self.settle_s = settle_s
        self.page = page
        self.token = uuid.uuid4().hex
        self._held: dict[str, Ledger] = {}

    async def run_once(self, now_ms: int | None = None) -> int:
        """One pass over every experiment when this process holds the lease; the entries folded."""
        if not await self.store.take_lease(self.token, lease_s=max(self.every_s * 3, 30.0)):
            self._held.clear()  # another gateway writes the ledgers meanwhile
            return 0
        now = int(time.time() * 1000) if now_ms is None else now_ms
        upto = now - int(self.settle_s * 1000)
        history = [entry async for entry in self.history()]
        current = self.current()
        folded = 0
        for experiment_id in experiment_ids(current.config):
            try:
                plan = plan_phases(experiment_id, history, current)
            except UnknownExperiment:
                continue
            ledger = await self._ledger(experiment_id)
            while True:
                went = await fold_streams(
                    self.store.client, self.store.prefix, ledger, plan, events_upto_ms=upto, page=self.page
                )
                await self.store.save(ledger)
                folded += went.exposures + went.events
                if not went.full(self.page):
                    break
            EXPERIMENT_LEDGER_LAG.labels(experiment_id).set(max(0.0, (now - ledger.cursors.upto_ms) / 1000))
        return folded

    async def _ledger(self, experiment_id: str) -> Ledger:
        held = self._held.get(experiment_id)
        if held is None or held.generation != await self.store.generation(experiment_id):
            judge = await self.novelty()
            held = self._held[experiment_id] = await self.store.load(experiment_id, judge)
        return held

    async def run(self, stopped: Callable[[], bool]) -> None:
        while not stopped():
            try:
                await self.run_once()
            except Exception as error:
                log.warning("experiments: ledger round failed", extra={"error": repr(error)})
            await asyncio.sleep(self.every_s)


def experiment_ids(config: ExperimentConfig) -> list[str]:
    return [experiment.id for layer in config.layers for experiment in layer.experiments]


def _user_to(user: UserTally) -> dict[str, Any]:
    user.compact_trail()
    return {
        "arm": user.arm,
        "first": user.first,
        "moved": user.moved,
        "phases": sorted(user.phases),
        "n": [
            user.impressions,
            user.clicks,
            user.novel_clicks,
            user.judged_clicks,
            user.page_views,
            user.carts,
        ],
        "buy": user.purchase_values,
        "trail": user.trail,
    }


def _user_from(raw: dict[str, Any]) -> UserTally:
    impressions, clicks, novel, judged, page_views, carts = raw["n"]
    return UserTally(
        arm=raw["arm"],
        first=raw["first"],
        moved=raw["moved"],
        phases=set(raw["phases"]),
        impressions=impressions,
        clicks=clicks,
        novel_clicks=novel,
        judged_clicks=judged,
        page_views=page_views,
        carts=carts,
        purchase_values=list(raw["buy"]),
        trail=[(int(ts), int(shown), int(clicked)) for ts, shown, clicked in raw["trail"]],
    )


def _meta_of(tally: ExperimentTally, ledger: Ledger) -> dict[str, Any]:
    return {
        "generation": ledger.generation,
        "cursors": vars(ledger.cursors),
        "forced": sorted(tally.forced),
        "override": sorted(tally.override),
        "guardrails": [
            [phase, arm, sorted(guard.latency_ms.items()), guard.errors, guard.fallbacks]
            for (phase, arm), guard in sorted(tally.guardrails.items())
        ],
        "revisions": {str(phase): sorted(counts.items()) for phase, counts in tally.revisions.items()},
        "outside_history": tally.exposures_outside_history,
        "before_exposure": tally.events_before_exposure,
        "pre_window": tally.pre_window,
    }


def _meta_into(tally: ExperimentTally, meta: dict[str, Any]) -> None:
    tally.forced = set(meta["forced"])
    tally.override = set(meta["override"])
    tally.guardrails = {
        (phase, arm): Guardrail(Counter({int(ms): n for ms, n in latency}), errors, fallbacks)
        for phase, arm, latency, errors, fallbacks in meta["guardrails"]
    }
    tally.revisions = {
        int(phase): Counter({int(rev): n for rev, n in counts}) for phase, counts in meta["revisions"].items()
    }
    tally.exposures_outside_history = meta["outside_history"]
    tally.events_before_exposure = meta["before_exposure"]
    window = meta["pre_window"]
    tally.pre_window = None if window is None else (int(window[0]), int(window[1]))
