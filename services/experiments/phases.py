"""An experiment's phases: spans of config revisions during which what places a user in an arm stayed put.

A user's arm follows from the layer's salt, the experiment's layer buckets, its version and its arms' bucket
ranges. Change any of them (a reweight, say) and some users change arm while those who arrive later are split
by other weights: pooling the spans, or dropping the users seen in two arms (the active ones, so a choice by
behaviour after treatment), biases every comparison. So each change starts a new phase, and a report
analyses one phase: the users first exposed in it and their events while it lasted, against its weights
(GrowthBook's phases work the same way).

The config history gives the phases (each accepted config with its revision and time); exposures and events
carry the revision they were served under, which places them in a phase.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from experiments.config import Experiment, ExperimentConfig, Layer


class ConfigRevision(Protocol):
    """One accepted config, as the config store's history holds it."""

    @property
    def revision(self) -> int: ...

    @property
    def saved_at_ms(self) -> int | None: ...

    @property
    def config(self) -> ExperimentConfig: ...


@dataclass(frozen=True)
class Revision:
    """A config revision known only in process (a file served before Redis stored it: revision 0)."""

    revision: int
    saved_at_ms: int | None
    config: ExperimentConfig


class UnknownExperiment(LookupError):
    def __init__(self, experiment_id: str) -> None:
        self.reason = f"unknown experiment {experiment_id!r}"
        super().__init__(self.reason)


class UnknownPhase(LookupError):
    def __init__(self, experiment_id: str, number: int, phases: int) -> None:
        self.reason = f"experiment {experiment_id!r} has phases 1 to {phases}, not {number}"
        super().__init__(self.reason)


@dataclass(frozen=True)
class Phase:
    number: int
    first_revision: int
    # The phase's latest revision, whose config (start, stop, arm params...) the report reads.
    last_revision: int
    layer: Layer
    experiment: Experiment
    # When its first revision was stored (None: never stored) and when the next phase's was (None: current).
    started_ms: int | None
    ended_ms: int | None = None

    @property
    def current(self) -> bool:
        return self.ended_ms is None

    @property
    def weights(self) -> dict[str, float]:
        return {arm.name: arm.weight for arm in self.experiment.arms}

    def summary(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "first_revision": self.first_revision,
            "last_revision": self.last_revision,
            "started_ms": self.started_ms,
            "ended_ms": self.ended_ms,
            "current": self.current,
            "version": self.experiment.version,
            "weights": self.weights,
        }


def allocation_key(layer: Layer, experiment: Experiment) -> tuple[object, ...]:
    """Everything that decides a user's arm: equal keys, same arm for every user."""
    return (
        layer.salt,
        experiment.version,
        tuple((r.start, r.end) for r in experiment.layer_buckets),
        tuple((arm.name, tuple((r.start, r.end) for r in arm.buckets)) for arm in experiment.arms),
    )


class PhasePlan:
    """An experiment's phases in order, and the phase a revision falls in."""

    def __init__(self, experiment_id: str, phases: list[Phase], newest_revision: int) -> None:
        if not phases:
            raise UnknownExperiment(experiment_id)
        self.experiment_id = experiment_id
        self.phases = phases
        self.newest_revision = newest_revision
        self._starts = [phase.first_revision for phase in phases]

    def of_revision(self, revision: int) -> Phase | None:
        """None for a revision before the first phase or newer than the history read (so unplaceable)."""
        if revision > self.newest_revision:
            return None
        index = bisect.bisect_right(self._starts, revision) - 1
        return self.phases[index] if index >= 0 else None

    def get(self, number: int | None) -> Phase:
        """Phase `number` (1 is the first), or the current one."""
        if number is None:
            return self.phases[-1]
        if not 1 <= number <= len(self.phases):
            raise UnknownPhase(self.experiment_id, number, len(self.phases))
        return self.phases[number - 1]


def plan_phases(
    experiment_id: str, history: Iterable[ConfigRevision], current: ConfigRevision | None = None
) -> PhasePlan:
    """The phases that the history (any order) and the serving config, when not in it, give the experiment."""
    entries = {entry.revision: entry for entry in history}
    if current is not None:
        entries.setdefault(current.revision, current)
    phases: list[Phase] = []
    last_key: tuple[object, ...] | None = None
    for revision in sorted(entries):
        entry = entries[revision]
        found = entry.config.experiment(experiment_id)
        if found is None:
            continue  # removed for a while: it serves nobody, and coming back unchanged resumes the phase
        layer, experiment = found
        key = allocation_key(layer, experiment)
        if phases and key == last_key:
            phases[-1] = replace(phases[-1], last_revision=revision, layer=layer, experiment=experiment)
            continue
        if phases:
            phases[-1] = replace(phases[-1], ended_ms=entry.saved_at_ms or phases[-1].started_ms or 0)
        phases.append(Phase(len(phases) + 1, revision, revision, layer, experiment, entry.saved_at_ms))
        last_key = key
    return PhasePlan(experiment_id, phases, max(entries, default=0))
