"""Every family of Redis keys the platform writes: its owner, type and bound, and what losing it costs.

One table, so that an operator sizing `maxmemory` or reading `redis-cli --bigkeys` can name every key, and so
that a new key is a decision rather than an accident: `tests/recgpt_domain/test_key_families.py` runs every
store against a fresh prefix and fails on a key no family matches, and reads the sources for key names built
outside the table. A placeholder `<name>` stands for any non-empty text (ids may hold colons); `<prefix>` is
the deployment's prefix (`RECGPT_REDIS_PREFIX`).

Keys written together (by one Lua script or MULTI) carry the same Redis Cluster hash tag, the part in
braces: `{<user>}` for a user's behaviour or feed state, `{<method>}` for a refresh queue, `{experiments}`,
`{auth}` and `{catalogue}` for the shared families. Cluster places keys by their tag, so those calls stay
on one node (`recgpt_domain.redis_connection`). `RENAMED` lists the names the families had before the tags;
`recgpt_domain.key_migration` moves a store's old keys to the new names.

A bound is a TTL, a length kept by the writer (MAXLEN, MINID, LTRIM, a checked XLEN), or "none: why" for
state that must last. Each family lives in one of two Redis: "state", capped by `maxmemory` with
`noeviction` (writes refused with a 503, never dropped silently), or "cache" (RECGPT_CACHE_REDIS_URL when
set), capped by its own `maxmemory` with `allkeys-lru`: answers that can be computed again, evicted least
recently used first, so that they never crowd out state.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["string", "hash", "list", "set", "zset", "stream"]
# Which Redis holds the family: the durable, refusing one, or the caches' evicting one.
Home = Literal["state", "cache"]
PREFIX = "<prefix>"
# How a bound may start: the mechanism that keeps the family finite, or "none:" and the reason there is none.
BOUND_WORDS = ("TTL", "MAXLEN", "MINID", "LTRIM", "XLEN", "deleted", "none: ")
_PLACEHOLDER = re.compile(r"<[a-z][a-z -]*>")


@dataclass(frozen=True)
class KeyFamily:
    # The key with placeholders, e.g. "<prefix>:feed:history:<user>".
    pattern: str
    # The module that builds the key and is the only one to write it.
    owner: str
    kind: Kind
    bound: str
    # What is lost when a key of the family disappears (evicted, expired, wiped), and how it comes back.
    evicting_costs: str
    home: Home = "state"

    def __post_init__(self) -> None:
        if not self.pattern.startswith(f"{PREFIX}:") or PREFIX in self.pattern[len(PREFIX) :]:
            raise ValueError(f"{self.pattern}: starts with {PREFIX}: and names it once")
        if not self.bound.startswith(BOUND_WORDS):
            raise ValueError(f"{self.pattern}: the bound starts with one of {BOUND_WORDS}")
        if self.bound.startswith("none: ") and len(self.bound) < len("none: ") + 10:
            raise ValueError(f"{self.pattern}: an unbounded family says why")
        if not self.evicting_costs or "." not in self.owner:
            raise ValueError(f"{self.pattern}: an owner module and the cost of eviction are required")
        if self.home == "cache" and not self.bound.startswith("TTL"):
            raise ValueError(f"{self.pattern}: a cache family expires (a TTL) as well as being evicted")

    def regex(self, prefix: str) -> re.Pattern[str]:
        """The keys of the family under `prefix`."""
        return pattern_regex(self.pattern, prefix)

    def matches(self, key: str, prefix: str) -> bool:
        return self.regex(prefix).match(key) is not None


_BEHAVIOUR_LOST = (
    "the user's behaviour: the collaborative and content routes lose the user and recgpt-v1 answers as the "
    "baseline; the restore process (`recgpt-import --follow`) loads the catalogue again within seconds"
)

FAMILIES: tuple[KeyFamily, ...] = (
    KeyFamily(
        "<prefix>:behaviour:{<user>}",
        "recgpt_domain.behaviour_store",
        "list",
        "none: the catalogue's behaviour log, as large as the dataset imported; a re-import replaces it",
        _BEHAVIOUR_LOST + ".",
    ),
    KeyFamily(
        "<prefix>:seen:{<user>}",
        "recgpt_domain.behaviour_store",
        "set",
        "none: one member per item in the user's behaviour log",
        "items the user already has may be recommended again, until the restore process loads it back.",
    ),
    KeyFamily(
        "<prefix>:{catalogue}:users",
        "recgpt_domain.behaviour_store",
        "set",
        "none: one member per user of the catalogue",
        "the near-line job's list of users to refresh; loaded back with the behaviour.",
    ),
    KeyFamily(
        "<prefix>:{catalogue}:fingerprint",
        "recgpt_domain.datasets.redis_loader",
        "string",
        "none: one key, the import's marker",
        "the restore process loads the catalogue's behaviour again (seconds of writes), nothing else.",
    ),
    KeyFamily(
        "<prefix>:staging:<load>:<behaviour key>",
        "recgpt_domain.datasets.redis_loader",
        "list",
        "deleted when the load ends (renamed over the live keys, or deleted on failure); a killed load's "
        "by the next load an hour later. Lists, sets and a set of users, as the live keys",
        "the load in progress fails and is run again.",
    ),
    KeyFamily(
        "<prefix>:staging-runs",
        "recgpt_domain.datasets.redis_loader",
        "zset",
        "deleted: one member per load in progress, removed when it ends",
        "a killed load's staging keys are left until someone deletes them by hand.",
    ),
    KeyFamily(
        "<prefix>:profile:<method>:<user>",
        "recgpt_domain.profile_store",
        "string",
        "TTL 30 days (6 hours for a profile from fallback answers)",
        "a profile miss: recgpt-v1 answers as the baseline for the user and queues a refresh (LLM calls).",
        home="cache",
    ),
    KeyFamily(
        "<prefix>:explain:<method>:<model>:<prompt version>:<interest digest>:<item>",
        "explain.cache",
        "string",
        "TTL 30 days (1 day for a fallback or V2's next-best path), RECGPT_EXPLANATION_TTL_S; V2's digest"
        " ends with the situation kind",
        "a cache miss: the item is shown without its explanation until the near-line job writes it again.",
        home="cache",
    ),
    KeyFamily(
        "<prefix>:refresh-queue:{<method>}:stream",
        "recgpt_domain.refresh_queue",
        "stream",
        "XLEN checked: at most 10,000 queued (QueueLimits.max_depth), settled entries deleted",
        "queued refreshes: those users are queued again at their next profile miss.",
    ),
    KeyFamily(
        "<prefix>:refresh-queue:{<method>}:queued:<user>",
        "recgpt_domain.refresh_queue",
        "string",
        "TTL 6 hours while queued, 1 hour of cool-down after a dead letter",
        "the user may be queued twice (a skipped refresh), or retried before the cool-down ends.",
    ),
    KeyFamily(
        "<prefix>:refresh-queue:{<method>}:failed",
        "recgpt_domain.refresh_queue",
        "stream",
        "MAXLEN 10,000 dead letters (RetryPolicy.dead_letters_max)",
        "the record of failed refreshes an operator reads; nothing served.",
    ),
    KeyFamily(
        "<prefix>:feed:prefs:{<user>}",
        "recgpt_domain.preferences",
        "string",
        "none: state. A user's stated preferences last until the user resets them; only a command that "
        "leaves preferences creates the key (never a read, nor a DELETE of nothing); about 0.3-2 KB a user",
        "what the user told the feed is silently undone: pages stop honouring it. Never evict.",
    ),
    KeyFamily(
        "<prefix>:feed:history:{<user>}",
        "recgpt_domain.preferences",
        "list",
        "LTRIM to the last 20 turns, and TTL 30 days after the user's last command",
        "the record of the user's last commands (for operators and evaluation); the preferences stay.",
    ),
    KeyFamily(
        "<prefix>:{experiments}:config",
        "experiments.store",
        "string",
        "none: one key, the serving config and its revision",
        "replicas keep serving what they hold and write it back with a new revision within their refresh "
        "interval; a gateway started meanwhile serves the YAML until then.",
    ),
    KeyFamily(
        "<prefix>:{experiments}:history",
        "experiments.store",
        "stream",
        "MAXLEN 1,000 revisions (ExperimentSettings.config_history_max)",
        "older configs can no longer be read by revision (admin history, reports of old phases).",
    ),
    KeyFamily(
        "<prefix>:{experiments}:exposures",
        "experiments.exposures",
        "stream",
        "MAXLEN ~ 2,000,000 exposures",
        "reports lose the oldest exposures (who was assigned what, guardrails).",
    ),
    KeyFamily(
        "<prefix>:{experiments}:events",
        "experiments.events",
        "stream",
        "MINID ~ 90 days (ExperimentSettings.event_retention_s), trimmed hourly by each gateway",
        "acknowledged events: reports lose them (metrics per arm), a re-sent event is stored again.",
    ),
    KeyFamily(
        "<prefix>:{experiments}:event-id:<event id>",
        "experiments.events",
        "string",
        "TTL 7 days (RECGPT_EVENT_DEDUP_TTL_S)",
        "a client retrying that event id is counted twice.",
    ),
    KeyFamily(
        "<prefix>:{experiments}:ledger:<experiment>",
        "experiments.ledger",
        "hash",
        "TTL 90 days after its last save (LEDGER_TTL_S); one field per user exposed in the experiment",
        "the experiment's per-user facts: the next ledger round folds the streams again from their start, "
        "and users whose exposures the stream no longer holds leave the report.",
    ),
    KeyFamily(
        "<prefix>:{experiments}:ledger-pre:<experiment>",
        "experiments.ledger",
        "hash",
        "TTL 90 days after its last save; one field per user who clicked in the pre-period window",
        "CUPED's covariate: pre-period clicks read as zero until the window is folded again.",
    ),
    KeyFamily(
        "<prefix>:{experiments}:ledger-lease",
        "experiments.ledger",
        "string",
        "TTL 3 ledger rounds (at least 30 s)",
        "nothing: another gateway takes the lease and runs the ledger job.",
    ),
    KeyFamily(
        "<prefix>:{auth}:keys",
        "gateway.auth.keys",
        "hash",
        "none: one field per API key ever made; revoked keys are kept for the audit trail",
        "every caller is refused (401) at the gateways' next poll; the launcher stores its keys again.",
    ),
    KeyFamily(
        "<prefix>:{auth}:revision",
        "gateway.auth.keys",
        "string",
        "none: one counter",
        "nothing lasting: a lost counter reads 0, which gateways take for a change and reload the keys.",
    ),
)

# Current pattern -> the pattern of the same family before hash tags (same placeholders, in order).
RENAMED: dict[str, str] = {
    "<prefix>:behaviour:{<user>}": "<prefix>:behaviour:<user>",
    "<prefix>:seen:{<user>}": "<prefix>:seen:<user>",
    "<prefix>:{catalogue}:users": "<prefix>:users",
    "<prefix>:{catalogue}:fingerprint": "<prefix>:catalogue:fingerprint",
    "<prefix>:refresh-queue:{<method>}:stream": "<prefix>:refresh-queue:<method>:stream",
    "<prefix>:refresh-queue:{<method>}:queued:<user>": "<prefix>:refresh-queue:<method>:queued:<user>",
    "<prefix>:refresh-queue:{<method>}:failed": "<prefix>:refresh-queue:<method>:failed",
    "<prefix>:feed:prefs:{<user>}": "<prefix>:feed:prefs:<user>",
    "<prefix>:feed:history:{<user>}": "<prefix>:feed:history:<user>",
    "<prefix>:{experiments}:config": "<prefix>:experiments:config",
    "<prefix>:{experiments}:history": "<prefix>:experiments:history",
    "<prefix>:{experiments}:exposures": "<prefix>:experiments:exposures",
    "<prefix>:{experiments}:events": "<prefix>:experiments:events",
    "<prefix>:{experiments}:event-id:<event id>": "<prefix>:experiments:event-id:<event id>",
    "<prefix>:{auth}:keys": "<prefix>:auth:keys",
    "<prefix>:{auth}:revision": "<prefix>:auth:revision",
}


def placeholders(pattern: str) -> list[str]:
    return _PLACEHOLDER.findall(pattern)


def literals(pattern: str, prefix: str) -> list[str]:
    """The pattern's text under `prefix` around its placeholders (one more piece than placeholders)."""
    return _PLACEHOLDER.split(prefix + pattern[len(PREFIX) :])


@functools.cache
def pattern_regex(pattern: str, prefix: str) -> re.Pattern[str]:
    """The keys a pattern names under `prefix`; each placeholder is a group."""
    parts = [re.escape(part) for part in literals(pattern, prefix)]
    return re.compile("(.+)".join(parts) + r"\Z", re.DOTALL)


for _new, _old in RENAMED.items():
    if placeholders(_new) != placeholders(_old):
        raise ValueError(f"{_new}: the old name {_old} has other placeholders")


def family_of(key: str, prefix: str) -> KeyFamily | None:
    """The family `key` belongs to under `prefix`, or None; ValueError when two families claim it."""
    found = [family for family in FAMILIES if family.matches(key, prefix)]
    if len(found) > 1:
        raise ValueError(f"{key} matches {[family.pattern for family in found]}")
    return found[0] if found else None


def homed(home: Home) -> tuple[KeyFamily, ...]:
    """The families that live in the state Redis, or in the caches' Redis."""
    return tuple(family for family in FAMILIES if family.home == home)


def markdown_table() -> str:
    """The table as the operations guide shows it (a docs test can compare the two)."""
    rows = [
        "| key | Redis | owner | type | bound | what evicting it costs |",
        "|---|---|---|---|---|---|",
    ]
    for family in FAMILIES:
        cells = (
            f"`{family.pattern}`",
            family.home,
            f"`{family.owner}`",
            family.kind,
            family.bound,
            family.evicting_costs,
        )
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows)
