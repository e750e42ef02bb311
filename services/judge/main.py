"""The judge service process: RecGPT-V1 LLM-as-a-judge for interests, tags and explanations."""

from __future__ import annotations

from pydantic import Field

from judge.servicer import SERVICE_NAME, JudgeConfig, JudgeServicer
from recgpt.judge.v1 import judge_pb2_grpc
from recgpt_domain import grounding
from recgpt_serving import agent_runner
from recgpt_serving.agent_runner import AgentDeps, AgentServiceSettings, Registration


class JudgeSettings(AgentServiceSettings):
    max_parallel_llm_calls: int = Field(default=16, ge=1)
    # The judge reads a shorter behaviour than the agents it judges: enough to tell relevance.
    judge_behaviour_budget_tokens: int = Field(default=600, ge=64)
    # Length bounds of the rule-based grounding check; the explain service's bounds.
    max_words: int = Field(default=grounding.MAX_WORDS, ge=5)
    max_chars: int = Field(default=grounding.MAX_CHARS, ge=40)


def build(settings: JudgeSettings, deps: AgentDeps) -> Registration:
    config = JudgeConfig(
        llm_deadline_s=settings.llm_deadline_s,
        max_parallel_llm_calls=settings.max_parallel_llm_calls,
        behaviour_budget_tokens=settings.judge_behaviour_budget_tokens,
        behaviour_max_interactions=settings.behaviour_max_interactions,
        max_words=settings.max_words,
        max_chars=settings.max_chars,
    )
    vocabulary = grounding.CatalogueVocabulary.from_items(deps.items.values())
    servicer = JudgeServicer(config, deps, vocabulary)
    return Registration(servicer, judge_pb2_grpc.add_JudgeServiceServicer_to_server, SERVICE_NAME)


def main() -> None:
    agent_runner.main("judge", JudgeSettings, build)


if __name__ == "__main__":
    main()
