"""Where the services are and how long to wait for them: `RECGPT_EVAL_*`, else the shared `RECGPT_*` names."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from recgpt_serving.llm.batch import BATCH_LLM_DEADLINE_S

# Keys of the launcher's state file (var/run/stack.json) that name the services' addresses.
STACK_KEYS = ("retrieval_target", "intent_target", "tags_target", "explain_target", "judge_target")


def _target(name: str, default: str) -> str:
    return Field(
        default=default,
        validation_alias=AliasChoices(f"RECGPT_EVAL_{name.upper()}", f"RECGPT_{name.upper()}", name),
    )


class EvalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECGPT_EVAL_", extra="ignore", frozen=True)

    retrieval_target: str = _target("retrieval_target", "127.0.0.1:50051")
    intent_target: str = _target("intent_target", "127.0.0.1:50052")
    tags_target: str = _target("tags_target", "127.0.0.1:50053")
    explain_target: str = _target("explain_target", "127.0.0.1:50054")
    judge_target: str = _target("judge_target", "127.0.0.1:50055")
    # LLM-bound calls (intent, tags, explain, judge).
    llm_call_deadline_s: float = Field(default=BATCH_LLM_DEADLINE_S, gt=0)
    # Retrieval embeds up to K tags per call on the CPU, next to the other users' calls.
    retrieval_deadline_s: float = Field(default=30.0, gt=0)
    log_level: str = "WARNING"

    def with_stack(self, stack_file: Path) -> EvalSettings:
        """These settings with the addresses the launcher wrote (the file wins over the environment)."""
        state = json.loads(stack_file.read_text())
        found = {key: str(state[key]) for key in STACK_KEYS if state.get(key)}
        return self.model_copy(update=found)
