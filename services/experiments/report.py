"""An experiment's report, one phase at a time, from its ledger (`experiments.ledger`) and the config history.

A phase is a span of config revisions with the same allocation (`phases`): the report analyses the users
first exposed in it, against its weights (`tally`), and turns them into figures (`figures`). The per-user
facts come from the ledger a job keeps, and the streams' tail past it is folded here, so the report is as
fresh as the streams while reading each entry at most once a minute; the figures are computed in a worker
thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis

from experiments import figures
from experiments.ledger import LedgerStore, fold_streams
from experiments.phases import (
    ConfigRevision,
    Revision,
    UnknownExperiment,
    UnknownPhase,
    plan_phases,
)
from experiments.tally import NoveltyJudge, phase_tally

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
    chosen = plan.get(phase)
    ledger = await LedgerStore(client, prefix).load(experiment_id, novelty)
    await fold_streams(client, prefix, ledger, plan)
    tally = phase_tally(ledger.tally, plan, chosen)
    report = await asyncio.to_thread(figures.assemble, tally, current.revision, int(time.time() * 1000))
    report["ledger"] = {"folded_to_ms": ledger.cursors.upto_ms or None}
    return report
