"""The explain service process: RecGPT-V1 explanations for (interest, item) pairs, cached in Redis."""

from __future__ import annotations

from pydantic import Field

from explain.cache import ExplanationCache
from explain.servicer import SERVICE_NAME, ExplainConfig, ExplainServicer
from recgpt.explain.v1 import explain_pb2_grpc
from recgpt_domain import grounding
from recgpt_serving import agent_runner
from recgpt_serving.agent_runner import AgentDeps, AgentServiceSettings, Registration

_DAY_S = 24 * 3600


class ExplainSettings(AgentServiceSettings):
    # Length bounds of one explanation; longer LLM output falls back to the template.
    max_words: int = Field(default=grounding.MAX_WORDS, ge=5)
    max_chars: int = Field(default=grounding.MAX_CHARS, ge=40, le=200)
    explanation_ttl_s: int = Field(default=30 * _DAY_S, ge=60)
    # Fallbacks are cached too (marked), shorter, so the near-line job retries them but not on every pass.
    explanation_fallback_ttl_s: int = Field(default=_DAY_S, ge=60)
    max_parallel_llm_calls: int = Field(default=16, ge=1)


def build(settings: ExplainSettings, deps: AgentDeps) -> Registration:
    cache = ExplanationCache(
        deps.store.client,
        settings.redis_prefix,
        ttl_s=settings.explanation_ttl_s,
        fallback_ttl_s=settings.explanation_fallback_ttl_s,
    )
    config = ExplainConfig(
        max_words=settings.max_words,
        max_chars=settings.max_chars,
        llm_deadline_s=settings.llm_deadline_s,
        max_parallel_llm_calls=settings.max_parallel_llm_calls,
    )
    vocabulary = grounding.CatalogueVocabulary.from_items(deps.items.values())
    servicer = ExplainServicer(config, deps.llm, deps.items, vocabulary, cache)
    return Registration(servicer, explain_pb2_grpc.add_ExplainServiceServicer_to_server, SERVICE_NAME)


def main() -> None:
    agent_runner.main("explain", ExplainSettings, build)


if __name__ == "__main__":
    main()
