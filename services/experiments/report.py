"""An experiment's report, one phase at a time, from the exposure and event streams and the config history.

A phase is a span of config revisions with the same allocation (`phases`): the report analyses the users
first exposed in it, against its weights (`tally`), and turns them into figures (`figures`). The streams are
read in pages on the event loop; the figures are computed in a worker thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis

from experiments import events, exposures, figures
from experiments.exposures import unpack
from experiments.phases import (
    ConfigRevision,
    Revision,
    UnknownExperiment,
    UnknownPhase,
    plan_phases,
)
from experiments.tally import NoveltyJudge, PhaseTally

__all__ = ["Revision", "UnknownExperiment", "UnknownPhase", "build_report"]


async def build_report(
    client: aioredis.Redis,
    prefix: str,
    experiment_id: str,
    history: Iterable[ConfigRevision],
    current: ConfigRevision,
    *,
    phase: int | None = None,
    novelty: NoveltyJudge | None = None,
) -> dict[str, Any]:
    """Phase `phase` (1 is the first; None: the current one) of the experiment's report.

    `history` is the config store's, `current` the config this process serves (which may be newer, or,
    as revision 0, never stored). Raises UnknownExperiment or UnknownPhase.
    """
    plan = plan_phases(experiment_id, history, current)
    tally = PhaseTally(plan, plan.get(phase), novelty)
    async for packed in exposures.iter_exposures(client, prefix):
        tally.add_exposure(unpack(packed["e"]))
    async for event in events.iter_events(client, prefix):
        tally.add_event(event)
    return await asyncio.to_thread(figures.assemble, tally, current.revision, int(time.time() * 1000))
