"""Where the services are and how long to wait for them: `RECGPT_EVAL_*`, else the shared `RECGPT_*` names."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from recgpt_serving.llm.batch import BATCH_LLM_DEADLINE_S
from recgpt_tools import registry, run_state


def _target(name: str) -> str:
    """`<name>_target`: the environment's, else the service's default port on this machine."""
    return Field(
        default=registry.local_target(name),
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

    def with_stack(self, stack_file: Path) -> EvalSettings:
        """These settings with the addresses the launcher wrote (the file wins over the environment)."""
        state = run_state.read(stack_file)
        found = {
            f"{name}_target": target
            for name, target in state.targets.items()
            if f"{name}_target" in type(self).model_fields
        }
        return self.model_copy(update=found)
