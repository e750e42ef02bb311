"""Who counts in an experiment's report, and what each of them did: one fold of the exposure and event
streams into per-user facts for every phase at once (`ExperimentTally`), which a job keeps in Redis
(`experiments.ledger`) and a report views one phase at a time (`phase_tally`).

Who counts in a phase: users whose first exposure in the experiment (one that the assignment chose: not a
request that named its own variant, not a QA user forced into an arm) was served under a revision of the
phase. Their arm is the one of that exposure; their events count while the phase lasts (by the revision each
event was accepted under) and while they carry the experiment's arm label. A user exposed in an earlier
phase is analysed there and only counted here; one seen in two arms within the phase (which a phase should
not allow) is left out and counted. Phases are named by their first revision, which never changes as the
history grows (their numbers could, once the oldest revisions are trimmed from it).

The fold takes exposures before events: a labelled event of a user whose exposure it has not folded is not
counted (`events_before_exposure`; the ledger folds both streams up to the same time, so this happens only
to an exposure written long after its event, or lost). Pre-period clicks, the CUPED covariate, are the
clicks without the experiment's label inside the pre-period window (`pre_period_days` before the newest
phase's `start`), counted for every user, since a user clicking before the start is exposed only later.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from experiments.phases import Phase, PhasePlan

# Whether a clicked item lies outside the user's past categories (None when unknown).
NoveltyJudge = Callable[[str, str], bool | None]
# A phase by its first revision; 0 for revisions outside the history read.
PhaseKey = int
OUTSIDE_HISTORY: PhaseKey = 0
# The ledger keeps each user's timeline in buckets of this size (the report's timeline resolution).
TRAIL_BUCKET_MS = 3_600_000


@dataclass
class UserTally:
    arm: str
    # The phase of the user's first assigned exposure; the only phase the user is analysed in.
    first: PhaseKey = OUTSIDE_HISTORY
    # Seen in another arm within that phase: left out.
    moved: bool = False
    # Phases with an assigned exposure of the user (a later one counts the user as carried over there).
    phases: set[PhaseKey] = field(default_factory=set)
    impressions: int = 0
    clicks: int = 0
    novel_clicks: int = 0
    judged_clicks: int = 0
    page_views: int = 0
    carts: int = 0
    # Each purchase's value (price x quantity), as paid.
    purchase_values: list[float] = field(default_factory=list)
    # Filled by `phase_tally`: the values each capped at the phase's `purchase_value_cap`, their sum as paid,
    # how many were capped, and the pre-period clicks.
    revenue: float = 0.0
    revenue_uncapped: float = 0.0
    capped_purchases: int = 0
    pre_clicks: int = 0
    # (time ms, impressions, clicks): per event until the ledger compacts them into buckets.
    trail: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def purchases(self) -> int:
        return len(self.purchase_values)

    def compact_trail(self) -> None:
        buckets: dict[int, list[int]] = {}
        for ts, shown, clicked in self.trail:
            bucket = buckets.setdefault(ts - ts % TRAIL_BUCKET_MS, [0, 0])
            bucket[0] += shown
            bucket[1] += clicked
        self.trail = [(ts, shown, clicked) for ts, (shown, clicked) in sorted(buckets.items())]


@dataclass
class Guardrail:
    # Responses by latency, rounded to the millisecond: bounded however many responses there are.
    latency_ms: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    fallbacks: int = 0

    @property
    def responses(self) -> int:
        return sum(self.latency_ms.values())

    def add_latency(self, latency_ms: float) -> None:
        if not math.isnan(latency_ms):
            self.latency_ms[round(latency_ms)] += 1

    def percentile(self, q: float) -> float | None:
        """The smallest latency at or above which `q` percent of responses lie (None without responses)."""
        total = self.responses
        if not total:
            return None
        rank = math.ceil(total * q / 100)
        seen = 0
        for latency, count in sorted(self.latency_ms.items()):
            seen += count
            if seen >= rank:
                return float(latency)
        return float(max(self.latency_ms))


def arm_of(label: str, experiment_id: str) -> tuple[str, bool] | None:
    """The arm named for the experiment in an arms label, and whether it was forced."""
    for pair in label.split(","):
        exp, _, arm = pair.partition(":")
        if exp == experiment_id and arm:
            return (arm[:-1], True) if arm.endswith("*") else (arm, False)
    return None


def pre_window(plan: PhasePlan) -> tuple[int, int] | None:
    """[start - pre_period_days, start) in ms of the newest phase's config, when it has both."""
    experiment = plan.phases[-1].experiment
    if experiment.start is None or experiment.pre_period_days <= 0:
        return None
    end = int(experiment.start.timestamp() * 1000)
    return end - int(experiment.pre_period_days * 86_400_000), end


class ExperimentTally:
    """The fold of one experiment's exposures and events, every phase at once. `changed`, `changed_pre` and
    `pre_reset` say what changed since the ledger last saved it."""

    def __init__(self, experiment_id: str, novelty: NoveltyJudge | None = None) -> None:
        self.experiment_id = experiment_id
        self.novelty = novelty
        self.users: dict[str, UserTally] = {}
        self.forced: set[str] = set()
        self.override: set[str] = set()
        self.guardrails: dict[tuple[PhaseKey, str], Guardrail] = {}
        # Exposures of each phase's analysed users, by the config revision they were served under.
        self.revisions: dict[PhaseKey, Counter[int]] = {}
        self.exposures_outside_history = 0
        self.events_before_exposure = 0
        self.pre_window: tuple[int, int] | None = None
        self.pre_clicks: Counter[str] = Counter()
        self.changed: set[str] = set()
        self.changed_pre: set[str] = set()
        # The window moved since the last save: the stored pre-period clicks are replaced, not added to.
        self.pre_reset = False

    def set_pre_window(self, window: tuple[int, int] | None) -> bool:
        """Takes the window; True when it differs from the one folded so far (whose clicks are dropped: the
        caller folds the new window's again)."""
        if window == self.pre_window:
            return False
        self.pre_window = window
        self.pre_clicks.clear()
        self.pre_reset = True
        return True

    def add_exposure(self, record: dict[str, str], plan: PhasePlan) -> None:
        """One exposure as `exposures.unpack` gives it."""
        found = arm_of(record.get("arms", ""), self.experiment_id)
        if found is None:
            return
        arm, forced = found
        user = record["user"]
        if forced or record.get("override") == "1":
            (self.forced if forced else self.override).add(user)
            return
        revision = int(record["rev"])
        phase = plan.of_revision(revision)
        key = OUTSIDE_HISTORY if phase is None else phase.first_revision
        self.exposures_outside_history += phase is None
        member = self.users.get(user)
        if member is None:
            member = self.users[user] = UserTally(arm, first=key)
        self.changed.add(user)
        member.phases.add(key)
        if key != member.first or key == OUTSIDE_HISTORY:
            return
        if member.arm != arm:
            member.moved = True
        self.revisions.setdefault(key, Counter())[revision] += 1
        guard = self.guardrails.setdefault((key, arm), Guardrail())
        guard.add_latency(float(record.get("latency_ms", "nan")))
        guard.errors += int(record.get("status", "200")) >= 500
        guard.fallbacks += record.get("fallback") == "1"

    def add_event(self, event: dict[str, str], plan: PhasePlan) -> None:
        """One event as the events stream holds it."""
        user, ts = event["user"], int(event["ts"])
        found = arm_of(event.get("arms", ""), self.experiment_id)
        if found is None:
            window = self.pre_window
            if event["type"] == "click" and window is not None and window[0] <= ts < window[1]:
                self.pre_clicks[user] += 1
                self.changed_pre.add(user)
            return
        arm, forced = found
        if forced:
            return
        member = self.users.get(user)
        if member is None:
            self.events_before_exposure += 1
            return
        phase = plan.of_revision(int(event.get("rev", "-1")))
        if phase is None or phase.first_revision != member.first:
            return
        self.changed.add(user)
        if arm != member.arm:
            member.moved = True
            return
        self._count(member, event, ts)

    def _count(self, user: UserTally, event: dict[str, str], ts: int) -> None:
        kind = event["type"]
        if kind == "impression":
            user.impressions += 1
            user.trail.append((ts, 1, 0))
        elif kind == "click":
            user.clicks += 1
            user.trail.append((ts, 0, 1))
            verdict = self.novelty(event["user"], event["item"]) if self.novelty else None
            if verdict is not None:
                user.judged_clicks += 1
                user.novel_clicks += verdict
        elif kind == "page_view":
            user.page_views += 1
        elif kind == "add_to_cart":
            user.carts += 1
        elif kind == "purchase":
            user.purchase_values.append(float(event.get("price", 0)) * int(event.get("qty", 1)))


@dataclass
class PhaseTally:
    """One phase of an `ExperimentTally`: what `figures.assemble` reads."""

    plan: PhasePlan
    phase: Phase
    # The phase's analysed users (first exposed in it), with their pre-period clicks.
    users: dict[str, UserTally]
    guardrails: dict[str, Guardrail]
    forced: int
    override: int
    carried_over: int
    exposures_outside_history: int
    events_before_exposure: int
    revisions: Counter[int]
    # Users first exposed in each phase, by phase number.
    first_exposed: Counter[int]
    pre_window: tuple[int, int] | None
    judged_novelty: bool


def phase_tally(tally: ExperimentTally, plan: PhasePlan, phase: Phase) -> PhaseTally:
    key = phase.first_revision
    numbers = {p.first_revision: p.number for p in plan.phases}
    users: dict[str, UserTally] = {}
    carried = 0
    first_exposed: Counter[int] = Counter()
    for name, member in tally.users.items():
        first_exposed[numbers.get(member.first, 0)] += 1
        if member.first == key:
            users[name] = _analysed(
                member, tally.pre_clicks.get(name, 0), phase.experiment.purchase_value_cap
            )
        elif key in member.phases:
            carried += 1
    return PhaseTally(
        plan=plan,
        phase=phase,
        users=users,
        guardrails={arm: guard for (k, arm), guard in tally.guardrails.items() if k == key},
        forced=len(tally.forced),
        override=len(tally.override),
        carried_over=carried,
        exposures_outside_history=tally.exposures_outside_history,
        events_before_exposure=tally.events_before_exposure,
        revisions=tally.revisions.get(key, Counter()),
        first_exposed=first_exposed,
        pre_window=tally.pre_window,
        judged_novelty=tally.novelty is not None,
    )


def _analysed(member: UserTally, pre_clicks: int, value_cap: float | None) -> UserTally:
    values = member.purchase_values
    capped = values if value_cap is None else [min(value, value_cap) for value in values]
    return replace(
        member,
        revenue=sum(capped),
        revenue_uncapped=sum(values),
        capped_purchases=sum(value_cap is not None and value > value_cap for value in values),
        pre_clicks=pre_clicks,
    )
