"""What every agent does alike on each call: the LLM deadline, the fallback reasons, the provenance."""

from __future__ import annotations

from typing import cast

import grpc
import pytest

from recgpt_serving.agent_runner import (
    MIN_LLM_DEADLINE_S,
    AgentServiceSettings,
    FallbackReason,
    fallback_reason,
    llm_deadline,
    provenance,
)
from recgpt_serving.llm.client import LlmSettings
from recgpt_serving.llm.errors import (
    LlmError,
    LlmOutputError,
    LlmRequestError,
    LlmTimeoutError,
    LlmUnavailableError,
)

# Every reason the LLM client gives an invalid output (recgpt_serving/llm/client.py).
OUTPUT_REASONS = ("empty", "truncated", "invalid_json", "schema_mismatch", "malformed_response")


class CallerContext:
    """The one thing llm_deadline reads of a gRPC servicer context."""

    def __init__(self, remaining: float | None) -> None:
        self.remaining = remaining

    def time_remaining(self) -> float | None:
        return self.remaining


def settings(**values: object) -> AgentServiceSettings:
    base: dict[str, object] = {
        "catalogue_dir": "/nonexistent",
        "redis_url": "redis://127.0.0.1:6379/0",
        "port": 0,
        "metrics_port": 0,
        "llm_deadline_s": 10.0,
        "llm_deadline_margin_s": 0.2,
    }
    return AgentServiceSettings.model_validate({**base, **values})


def deadline(remaining: float | None) -> float:
    return llm_deadline(cast(grpc.aio.ServicerContext, CallerContext(remaining)), settings())


def test_the_llm_deadline_fits_inside_the_callers() -> None:
    assert deadline(None) == 10.0, "a caller without a deadline gets the configured one"
    assert deadline(60.0) == 10.0
    assert deadline(3.0) == pytest.approx(2.8)
    assert deadline(0.1) == MIN_LLM_DEADLINE_S
    assert deadline(-1.0) == MIN_LLM_DEADLINE_S


@pytest.mark.parametrize(
    "error",
    [
        LlmTimeoutError("late"),
        LlmUnavailableError("down"),
        LlmRequestError(400, "bad"),
        LlmError("other"),
        *(LlmOutputError(reason, "detail") for reason in OUTPUT_REASONS),
    ],
)
def test_every_llm_failure_has_its_own_fallback_reason(error: LlmError) -> None:
    label = error.reason if isinstance(error, LlmOutputError) else error.outcome
    assert fallback_reason(error).value == label


def test_an_unknown_failure_does_not_grow_the_label_set() -> None:
    assert fallback_reason(LlmOutputError("something_new", "detail")) is FallbackReason.ERROR


def test_provenance_names_the_configured_model_and_adapter() -> None:
    llm = LlmSettings(endpoints=["http://127.0.0.1:9/v1"], model="base", adapter="tags-sft-3")
    made = provenance(llm, "tags-v1.0", fallback=True)
    assert (made.model, made.adapter, made.prompt_version, made.fallback) == (
        "base",
        "tags-sft-3",
        "tags-v1.0",
        True,
    )
    assert made.created_at_unix > 0
    assert provenance(LlmSettings(endpoints=["http://127.0.0.1:9/v1"]), "v", fallback=False).adapter == ""
