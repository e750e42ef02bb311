"""Per-request context carried from the gateway through gRPC metadata into every log line."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace

METADATA_REQUEST_ID = "x-request-id"
METADATA_USER_ID = "x-user-id"
METADATA_EXPERIMENT = "x-experiment"
METADATA_ADAPTERS = "x-recgpt-adapters"


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    user_id: str = ""
    # Experiment assignment as "experiment:arm" pairs joined by commas; empty outside experiments.
    experiment: str = ""
    # Per-request adapter choices (an experiment arm's) as "agent=choice" pairs joined by commas, e.g.
    # "tag_predictor=newest,explainer=base"; a choice is "base", "newest" or a version. Empty: the settings'.
    adapters: str = ""

    def adapter_for(self, agent: str) -> str:
        """This request's adapter choice for `agent`, or "" when it has none."""
        return parse_adapter_choices(self.adapters).get(agent, "")

    def to_metadata(self) -> list[tuple[str, str]]:
        pairs = [
            (METADATA_REQUEST_ID, self.request_id),
            (METADATA_USER_ID, self.user_id),
            (METADATA_EXPERIMENT, self.experiment),
            (METADATA_ADAPTERS, self.adapters),
        ]
        return [(key, value) for key, value in pairs if value]

    @classmethod
    def from_metadata(cls, metadata: Iterable[tuple[str, str | bytes]] | None) -> RequestContext:
        found: dict[str, str] = {}
        for key, value in metadata or ():
            found[key] = value.decode() if isinstance(value, bytes) else value
        return cls(
            request_id=found.get(METADATA_REQUEST_ID, "") or new_request_id(),
            user_id=found.get(METADATA_USER_ID, ""),
            experiment=found.get(METADATA_EXPERIMENT, ""),
            adapters=found.get(METADATA_ADAPTERS, ""),
        )


def parse_adapter_choices(text: str) -> dict[str, str]:
    """ "agent=choice,agent=choice" as a mapping; malformed pairs are ignored (the settings then apply)."""
    choices: dict[str, str] = {}
    for pair in text.split(","):
        agent, sep, choice = pair.partition("=")
        if sep and agent.strip() and choice.strip():
            choices[agent.strip()] = choice.strip()
    return choices


def with_adapters(choices: dict[str, str]) -> RequestContext:
    """The current context with these adapter choices (an experiment arm's) added to it."""
    merged = {**parse_adapter_choices(current().adapters), **choices}
    return replace(current(), adapters=",".join(f"{agent}={choice}" for agent, choice in merged.items()))


_EMPTY = RequestContext()
_current: ContextVar[RequestContext | None] = ContextVar("recgpt_request_context", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def current() -> RequestContext:
    return _current.get() or _EMPTY


@contextmanager
def bound(ctx: RequestContext) -> Iterator[RequestContext]:
    """Makes `ctx` the current request context for the enclosed block."""
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def with_user(user_id: str) -> RequestContext:
    return replace(current(), user_id=user_id)
