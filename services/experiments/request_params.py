"""The arm's pipeline parameters for the request being served, read by the pipelines that honour them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from experiments.config import ArmParams

_EMPTY = ArmParams()
_current: ContextVar[ArmParams] = ContextVar("recgpt_arm_params", default=_EMPTY)


def current() -> ArmParams:
    return _current.get()


@contextmanager
def bound(params: ArmParams) -> Iterator[None]:
    token = _current.set(params)
    try:
        yield
    finally:
        _current.reset(token)


def adapter_choices(params: ArmParams) -> str:
    """The arm's adapter per agent as the request context carries it to the agents ("agent=choice,...")."""
    return ",".join(f"{agent}={choice}" for agent, choice in sorted((params.adapters or {}).items()))
