"""Who counts in a phase's report, and what each of them did: per-user tallies from exposures and events.

Who counts: users whose first exposure in the experiment (one that the assignment chose: not a request that
named its own variant, not a QA user forced into an arm) was served under a revision of the phase. Their
arm is the one of that exposure; their events count while the phase lasts (by the revision each event was
accepted under) and while they carry the experiment's arm label. A user exposed in an earlier phase is
analysed there and only counted here; one seen in two arms within the phase (which a phase should not
allow) is left out and counted. The pre-period (`pre_period_days` before `start`) gives each user's
pre-period clicks, the CUPED covariate.

Exposures must be added before events, each stream oldest first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from experiments.phases import Phase, PhasePlan

# Whether a clicked item lies outside the user's past categories (None when unknown).
NoveltyJudge = Callable[[str, str], bool | None]


@dataclass
class UserTally:
    arm: str
    # Seen in another arm within the phase: left out.
    moved: bool = False
    impressions: int = 0
    clicks: int = 0
    novel_clicks: int = 0
    judged_clicks: int = 0
    page_views: int = 0
    carts: int = 0
    purchases: int = 0
    # Purchase value (price x quantity), each event capped at the experiment's `purchase_value_cap`.
    revenue: float = 0.0
    revenue_uncapped: float = 0.0
    capped_purchases: int = 0
    pre_clicks: int = 0
    # (time ms, impressions, clicks) per event, for the timeline.
    trail: list[tuple[int, int, int]] = field(default_factory=list)


@dataclass
class Guardrail:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    fallbacks: int = 0


def arm_of(label: str, experiment_id: str) -> tuple[str, bool] | None:
    """The arm named for the experiment in an arms label, and whether it was forced."""
    for pair in label.split(","):
        exp, _, arm = pair.partition(":")
        if exp == experiment_id and arm:
            return (arm[:-1], True) if arm.endswith("*") else (arm, False)
    return None


class PhaseTally:
    def __init__(self, plan: PhasePlan, phase: Phase, novelty: NoveltyJudge | None = None) -> None:
        self.plan = plan
        self.phase = phase
        self.experiment_id = plan.experiment_id
        self.novelty = novelty
        experiment = phase.experiment
        self.value_cap = experiment.purchase_value_cap
        self.pre_window: tuple[int, int] | None = None
        if experiment.start is not None and experiment.pre_period_days > 0:
            end = int(experiment.start.timestamp() * 1000)
            self.pre_window = (end - int(experiment.pre_period_days * 86_400_000), end)
        self.users: dict[str, UserTally] = {}
        self.guardrails: dict[str, Guardrail] = {}
        # Users first exposed in each phase (by number; 0: under a revision outside the history read).
        self.first_phase: dict[str, int] = {}
        self.forced: set[str] = set()
        self.override: set[str] = set()
        self.carried_over: set[str] = set()
        self.exposures_outside_history = 0
        # Which configs the analysed users were served under (the history has each one with its time).
        self.revisions: Counter[int] = Counter()

    def add_exposure(self, record: dict[str, str]) -> None:
        """One exposure as `exposures.unpack` gives it."""
        found = arm_of(record.get("arms", ""), self.experiment_id)
        if found is None:
            return
        arm, forced = found
        user = record["user"]
        if forced or record.get("override") == "1":
            (self.forced if forced else self.override).add(user)
            return
        phase = self.plan.of_revision(int(record["rev"]))
        number = 0 if phase is None else phase.number
        self.exposures_outside_history += phase is None
        first = self.first_phase.setdefault(user, number)
        if number != self.phase.number:
            return
        if first != number:
            self.carried_over.add(user)
            return
        member = self.users.get(user)
        if member is None:
            member = self.users[user] = UserTally(arm)
        elif member.arm != arm:
            member.moved = True
        self.revisions[int(record["rev"])] += 1
        guard = self.guardrails.setdefault(arm, Guardrail())
        guard.latencies.append(float(record.get("latency_ms", "nan")))
        guard.errors += int(record.get("status", "200")) >= 500
        guard.fallbacks += record.get("fallback") == "1"

    def add_event(self, event: dict[str, str]) -> None:
        """One event as the events stream holds it."""
        member = self.users.get(event["user"])
        if member is None:
            return
        ts = int(event["ts"])
        found = arm_of(event.get("arms", ""), self.experiment_id)
        if found is None:
            window = self.pre_window
            if event["type"] == "click" and window is not None and window[0] <= ts < window[1]:
                member.pre_clicks += 1
            return
        arm, forced = found
        phase = self.plan.of_revision(int(event.get("rev", "-1")))
        if forced or phase is None or phase.number != self.phase.number:
            return
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
            user.purchases += 1
            value = float(event.get("price", 0)) * int(event.get("qty", 1))
            user.revenue_uncapped += value
            if self.value_cap is not None and value > self.value_cap:
                user.capped_purchases += 1
                value = self.value_cap
            user.revenue += value

    def users_first_exposed(self) -> Counter[int]:
        """Users by the phase of their first exposure."""
        return Counter(self.first_phase.values())
