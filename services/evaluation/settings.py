"""Where the services are and how long to wait for them: `RECGPT_EVAL_*`, else the shared `RECGPT_*` names
(which `recgpt-stack exec` sets to the running platform's addresses)."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from recgpt_serving.llm.batch import BATCH_LLM_DEADLINE_S


def _target(name: str) -> Any:
    """`<name>_target`: required, from the environment."""
    return Field(
        min_length=1,
        validation_alias=AliasChoices(
            f"RECGPT_EVAL_{name.upper()}_TARGET", f"RECGPT_{name.upper()}_TARGET", f"{name}_target"
        ),
    )


class EvalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECGPT_EVAL_", extra="ignore", frozen=True)

    retrieval_target: str = _target("retrieval")
    intent_target: str = _target("intent")
    tags_target: str = _target("tags")
    explain_target: str = _target("explain")
    judge_target: str = _target("judge")
    # LLM-bound calls (intent, tags, explain, judge).
    llm_call_deadline_s: float = Field(default=BATCH_LLM_DEADLINE_S, gt=0)
    # Retrieval embeds up to K tags per call on the CPU, next to the other users' calls.
    retrieval_deadline_s: float = Field(default=30.0, gt=0)
    log_level: str = "WARNING"
