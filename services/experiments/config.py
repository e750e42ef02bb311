"""The experiment config: layers of experiments whose arms own bucket ranges, validated before it serves.

A user's bucket in a layer is a salted hash of (layer salt, user id) into `BUCKETS` buckets. Experiments in
one layer take disjoint slices of its buckets, so a layer is also a namespace: its experiments never share a
user.
Within an experiment a second hash (layer salt, experiment id, version) picks the arm, so bumping the version
re-randomises the experiment's users and nothing else. Layers use independent salts: a user's arm in one layer
says nothing about their arm in another.
Changing what places a user (the layer's salt, the experiment's layer buckets, version or arm buckets) starts
a new phase of the experiment: reports analyse one phase at a time (see `phases`).
Times carry a zone: a naive `start` or `stop` is refused, since assignment compares them with an aware clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    model_validator,
)

from recgpt_domain.json_types import whole_float_as_int

BUCKETS = 10_000
# Bounds that keep Prometheus labels and the per-request work small, whatever an admin sends.
MAX_LAYERS = 8
MAX_EXPERIMENTS = 32
MAX_ARMS = 8
MAX_FORCED_USERS = 1_000

Name = Annotated[str, StringConstraints(min_length=1, max_length=48, pattern=r"^[a-z0-9][a-z0-9._-]*$")]
AgentName = Literal["interest_miner", "tag_predictor", "explainer", "judge", "tag_expert"]
AdapterChoice = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
ForcedUserId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[!-~]+$")]


class BucketRange(BaseModel):
    """Buckets `start` (inclusive) to `end` (exclusive)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: Annotated[StrictInt, Field(ge=0, le=BUCKETS), BeforeValidator(whole_float_as_int)]
    end: Annotated[StrictInt, Field(ge=0, le=BUCKETS), BeforeValidator(whole_float_as_int)]

    @model_validator(mode="after")
    def _ordered(self) -> BucketRange:
        if self.end <= self.start:
            raise ValueError(f"bucket range [{self.start}, {self.end}) is empty")
        return self

    @property
    def size(self) -> int:
        return self.end - self.start


class ArmParams(BaseModel):
    """What an arm changes in the pipeline; None keeps the gateway's setting."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    variant: str | None = Field(default=None, min_length=1, max_length=48)
    # LoRA adapter per agent for the arm: `base`, `newest` or a version name (agents-serve's choice).
    adapters: dict[AgentName, AdapterChoice] | None = None
    # The baseline's share of recgpt-v1's fusion (the tag route gets 1 - beta).
    beta: Annotated[StrictFloat, Field(ge=0, le=1)] | None = None
    # Items on the page when the request does not say.
    n: Annotated[StrictInt, Field(ge=1, le=100), BeforeValidator(whole_float_as_int)] | None = None

    def set_fields(self) -> set[str]:
        return {name for name, value in self.model_dump().items() if value is not None}


class Arm(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    params: ArmParams = Field(default_factory=ArmParams)
    # The arm's share of the experiment's arm buckets (0..BUCKETS): its weight is their size / BUCKETS.
    buckets: list[BucketRange] = Field(min_length=1, max_length=64)

    @property
    def weight(self) -> float:
        return sum(r.size for r in self.buckets) / BUCKETS


class Experiment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Name
    description: str = Field(default="", max_length=500)
    # Bumping it re-randomises who is in which arm.
    version: Annotated[StrictInt, Field(ge=1), BeforeValidator(whole_float_as_int)] = 1
    # The kill switch: False stops the experiment at once; its users get the gateway's defaults.
    enabled: StrictBool = True
    # Timezone-aware (`2026-11-28T12:00:00Z`); a naive time is refused.
    start: AwareDatetime | None = None
    stop: AwareDatetime | None = None
    # The arm whose figures the others are compared with.
    control: Name
    # The experiment's slice of its layer's buckets (the layer's namespace).
    layer_buckets: list[BucketRange] = Field(
        default_factory=lambda: [BucketRange(start=0, end=BUCKETS)], min_length=1, max_length=64
    )
    arms: list[Arm] = Field(min_length=2, max_length=MAX_ARMS)
    # QA: these users always get the named arm while the experiment is enabled (they are left out of reports).
    forced: dict[ForcedUserId, Name] = Field(default_factory=dict, max_length=MAX_FORCED_USERS)
    # Days before `start` whose clicks are the CUPED covariate (0: no pre-period).
    pre_period_days: Annotated[StrictFloat, Field(ge=0, le=90)] = 0
    # Reports count a purchase event (price x quantity) as at most this much (None: uncapped), so that one
    # mistyped price or bulk order cannot decide the revenue comparison.
    purchase_value_cap: Annotated[StrictFloat, Field(gt=0)] | None = None
    # Each user's revenue is then capped at this quantile of the purchasing users' revenue (1: not at all).
    revenue_winsor_quantile: Annotated[StrictFloat, Field(ge=0.5, le=1)] = 0.99

    def arm(self, name: str) -> Arm | None:
        return next((arm for arm in self.arms if arm.name == name), None)

    def active(self, now: datetime) -> bool:
        if not self.enabled:
            return False
        if self.start is not None and now < self.start:
            return False
        return self.stop is None or now < self.stop


class Layer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    salt: str = Field(min_length=1, max_length=64)
    experiments: list[Experiment] = Field(default_factory=list, max_length=MAX_EXPERIMENTS)


class Holdout(BaseModel):
    """Users in the first `buckets` of the holdout hash get no experiment at all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    salt: str = Field(default="global-holdout", min_length=1, max_length=64)
    buckets: Annotated[StrictInt, Field(ge=0, le=BUCKETS), BeforeValidator(whole_float_as_int)] = 0


class ExperimentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    holdout: Holdout = Field(default_factory=Holdout)
    layers: list[Layer] = Field(default_factory=list, max_length=MAX_LAYERS)

    def experiments(self) -> Iterable[tuple[Layer, Experiment]]:
        for layer in self.layers:
            for experiment in layer.experiments:
                yield layer, experiment

    def experiment(self, experiment_id: str) -> tuple[Layer, Experiment] | None:
        return next(((lay, exp) for lay, exp in self.experiments() if exp.id == experiment_id), None)


class ConfigProblems(ValueError):
    """A config that must not serve, with every reason found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def check(config: ExperimentConfig, known_variants: Iterable[str]) -> None:
    """Raises ConfigProblems naming every problem: overlaps, gaps, unknown variants or arms, shared params."""
    variants = set(known_variants)
    problems: list[str] = []
    seen_ids: set[str] = set()
    salts: dict[str, str] = {}
    param_owner: dict[str, str] = {}
    for layer in config.layers:
        if layer.salt in salts:
            problems.append(
                f"layers {salts[layer.salt]!r} and {layer.name!r} share a salt: they would not be independent"
            )
        salts.setdefault(layer.salt, layer.name)
        slices = [(r, exp.id) for exp in layer.experiments for r in exp.layer_buckets]
        problems += _overlaps(slices, f"layer {layer.name!r}")
        for experiment in layer.experiments:
            where = f"experiment {experiment.id!r}"
            if experiment.id in seen_ids:
                problems.append(f"{where} is defined twice")
            seen_ids.add(experiment.id)
            problems += _experiment_problems(experiment, variants, where)
            for arm in experiment.arms:
                for param in arm.params.set_fields():
                    owner = param_owner.setdefault(param, layer.name)
                    if owner != layer.name:
                        problems.append(
                            f"{where}: parameter {param!r} is set by layers {owner!r} and {layer.name!r};"
                            " a user in both would get two values"
                        )
    if problems:
        raise ConfigProblems(sorted(set(problems), key=problems.index))


def _experiment_problems(experiment: Experiment, variants: set[str], where: str) -> list[str]:
    problems: list[str] = []
    names = [arm.name for arm in experiment.arms]
    if len(set(names)) != len(names):
        problems.append(f"{where}: arm names repeat")
    if experiment.control not in names:
        problems.append(f"{where}: control arm {experiment.control!r} is not one of its arms {names}")
    if experiment.start and experiment.stop and experiment.stop <= experiment.start:
        problems.append(f"{where}: stop is not after start")
    if experiment.pre_period_days > 0 and experiment.start is None:
        problems.append(f"{where}: a pre-period needs a start time")
    for user, forced_arm in experiment.forced.items():
        if forced_arm not in names:
            problems.append(f"{where}: user {user!r} is forced into unknown arm {forced_arm!r}")
    for each in experiment.arms:
        variant = each.params.variant
        if variant is not None and variant not in variants:
            problems.append(
                f"{where}: arm {each.name!r} names unknown variant {variant!r}"
                f" (known: {', '.join(sorted(variants))})"
            )
    problems += _overlaps([(r, arm.name) for arm in experiment.arms for r in arm.buckets], f"{where} arms")
    covered = sum(r.size for arm in experiment.arms for r in arm.buckets)
    if covered != BUCKETS and not problems:
        weights = ", ".join(f"{arm.name}={arm.weight:.4f}" for arm in experiment.arms)
        problems.append(
            f"{where}: arm weights sum to {covered / BUCKETS:.4f}, not 1 ({weights}):"
            f" arm buckets must cover 0..{BUCKETS}"
        )
    return problems


def _overlaps(ranges: list[tuple[BucketRange, str]], where: str) -> list[str]:
    problems = []
    ordered = sorted(ranges, key=lambda pair: pair[0].start)
    for (left, left_owner), (right, right_owner) in itertools.pairwise(ordered):
        if right.start < left.end:
            problems.append(
                f"{where}: {left_owner!r} [{left.start}, {left.end}) overlaps {right_owner!r}"
                f" [{right.start}, {right.end})"
            )
    return problems
