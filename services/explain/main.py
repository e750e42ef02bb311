"""`recgpt-explain`: serve RecGPT-V1 explanations of (interest, item) pairs, cached in Redis."""

from __future__ import annotations

from explain.cache import ExplanationCache
from explain.servicer import ExplainServicer
from explain.settings import ExplainSettings
from recgpt.explain.v1 import explain_pb2_grpc
from recgpt_domain import grounding
from recgpt_serving import agent_runner, service_names
from recgpt_serving.agent_runner import AgentDeps, Registration


def build(settings: ExplainSettings, deps: AgentDeps) -> Registration:
    cache = ExplanationCache(
        deps.caches,
        settings.redis_prefix,
        ttl_s=settings.explanation_ttl_s,
        fallback_ttl_s=settings.explanation_fallback_ttl_s,
    )
    vocabulary = grounding.CatalogueVocabulary.from_items(deps.items.values())
    servicer = ExplainServicer(settings, deps, vocabulary, cache)
    return Registration(
        servicer, explain_pb2_grpc.add_ExplainServiceServicer_to_server, service_names.EXPLAIN
    )


def main() -> None:
    agent_runner.main("explain", ExplainSettings, build)


if __name__ == "__main__":
    main()
