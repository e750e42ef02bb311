"""RecGPT-V2's global planner: reads the compressed behaviour once, with an environment block, and emits K
complementary personas resting on catalogue categories (`recgpt_domain.personas`).

An answer without a usable persona is a fallback with no personas: the caller serves the V1 path. Personas
dropped by validation (a duplicate, no known category) are counted; the rest are served.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import grpc

from intent.prompts import PLANNER_AGENT, PLANNER_PROMPT_VERSION, planner_messages
from intent.settings import IntentSettings
from recgpt.common.v1 import common_pb2
from recgpt.intent.v1 import intent_pb2
from recgpt_domain.behaviour_context import BehaviourContext, compress
from recgpt_domain.catalogue import Interaction, Item, UserHistory
from recgpt_domain.category_transitions import CategoryTransitions, category_sequences
from recgpt_domain.environment import Trends, environment_text
from recgpt_domain.personas import clean_personas, planner_choices, planner_schema
from recgpt_serving import agent_runner, metrics
from recgpt_serving.llm import entity_tokens
from recgpt_serving.llm.errors import LlmError
from recgpt_serving.llm.usage import spent_usage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlannerStatistics:
    """What the planner knows of the shop: which category follows which, the trends, every category."""

    transitions: CategoryTransitions
    trends: Trends
    known: frozenset[str]

    @classmethod
    def count(
        cls, histories: Iterable[UserHistory], items: Mapping[str, Item], trend_days: int, trend_top: int
    ) -> PlannerStatistics:
        held = list(histories)
        return cls(
            CategoryTransitions.count(category_sequences(held, items)),
            Trends.count(held, items, trend_days, trend_top),
            frozenset(item.category for item in items.values() if item.category),
        )


class Planner:
    def __init__(
        self, settings: IntentSettings, deps: agent_runner.AgentDeps, statistics: PlannerStatistics
    ) -> None:
        self.settings = settings
        self.deps = deps
        self.statistics = statistics

    async def plan(
        self, request: intent_pb2.PlanPersonasRequest, context: grpc.aio.ServicerContext
    ) -> intent_pb2.PlanPersonasResponse:
        async with agent_runner.refusals_as_status(context, "behaviour store"):
            count = self._check(request)
            interactions = await agent_runner.read_behaviour(
                self.deps, request.user_id, request.behaviour, self.settings.behaviour_max_interactions
            )
        want = entity_tokens.wants_entities(request.item_representation, self.settings.entity_tokens)
        behaviour = compress(
            interactions,
            self.deps.items,
            self.settings.behaviour_budget_tokens,
            entity_items=self.deps.entities if want and self.deps.entities is not None else (),
        )
        environment = environment_text(
            _as_of(request.as_of_unix, interactions), self.statistics.trends, request.user_attributes
        )
        adapter = await self.deps.llm.adapter_for(PLANNER_AGENT, PLANNER_PROMPT_VERSION)
        response = await self._plan(behaviour, environment, count, adapter, want, context)
        response.environment = environment
        response.provenance.CopyFrom(
            agent_runner.provenance(
                self.deps.llm.settings, PLANNER_PROMPT_VERSION, fallback=response.fallback, adapter=adapter
            )
        )
        return response

    def _check(self, request: intent_pb2.PlanPersonasRequest) -> int:
        """K for this request; raises InvalidRequest for a request out of bounds."""
        settings = self.settings
        if len(request.user_id) > settings.max_user_id_chars:
            raise agent_runner.InvalidRequest(f"user_id longer than {settings.max_user_id_chars} characters")
        if len(request.behaviour) > settings.max_behaviour_entries:
            raise agent_runner.InvalidRequest(
                f"too many behaviour entries: {len(request.behaviour)}, "
                f"at most {settings.max_behaviour_entries}"
            )
        if len(request.user_attributes) > settings.max_user_attributes:
            raise agent_runner.InvalidRequest(
                f"too many user attributes: {len(request.user_attributes)}, "
                f"at most {settings.max_user_attributes}"
            )
        if request.max_personas < 0:
            raise agent_runner.InvalidRequest(
                f"max_personas must be >= 0 (0 = default), got {request.max_personas}"
            )
        return min(request.max_personas or settings.personas, settings.max_personas)

    async def _plan(
        self,
        behaviour: BehaviourContext,
        environment: str,
        count: int,
        adapter: str,
        want_entities: bool,
        context: grpc.aio.ServicerContext,
    ) -> intent_pb2.PlanPersonasResponse:
        if behaviour.items_total == 0:
            return _fallback(agent_runner.FallbackReason.NO_BEHAVIOUR, common_pb2.LlmUsage())
        statistics = self.statistics
        last = next((self.deps.items[i].category for i in behaviour.recent_item_ids), "")
        choices = planner_choices(
            [c for c, _ in behaviour.top_categories if c in statistics.known],
            statistics.transitions.follows.get(last, []),
            statistics.trends.categories,
            statistics.transitions.popular,
            self.settings.planner_choices,
        )
        max_categories = self.settings.persona_max_categories
        asked = entity_tokens.Asked.of(
            behaviour, lambda text: planner_messages(text, environment, choices, count, max_categories)
        )
        try:
            answer = await entity_tokens.ask_structured(
                self.deps.llm,
                self.deps.entities,
                PLANNER_AGENT,
                asked,
                want_entities,
                planner_schema(choices, count, max_categories),
                deadline_s=agent_runner.llm_deadline(context, self.settings),
                max_tokens=self.settings.planner_max_tokens,
                temperature=self.settings.planner_temperature,
                adapter=adapter,
            )
        except LlmError as error:
            reason = agent_runner.fallback_reason(error)
            log.warning("persona planning fell back", extra={"reason": reason, "error": str(error)})
            return _fallback(reason, spent_usage(error))
        result = answer.result
        usage = common_pb2.LlmUsage(
            prompt_tokens=result.usage.prompt_tokens,
            completion_tokens=result.usage.completion_tokens,
            engine_seconds=result.latency_s,
        )
        cleaned = clean_personas(result.value, choices, statistics.known, count)
        for problem, dropped in cleaned.dropped.items():
            metrics.AGENT_DROPPED_OUTPUTS.labels(PLANNER_AGENT, problem).inc(dropped)
        if cleaned.unknown_categories:
            metrics.AGENT_DROPPED_OUTPUTS.labels(PLANNER_AGENT, "unknown_category").inc(
                cleaned.unknown_categories
            )
        if not cleaned.personas:
            response = _fallback(agent_runner.FallbackReason.TOO_FEW_VALID, usage)
        else:
            response = intent_pb2.PlanPersonasResponse(
                personas=[
                    intent_pb2.PlannedPersona(persona=p.text, categories=p.categories)
                    for p in cleaned.personas
                ],
                usage=usage,
            )
        response.dropped_personas = sum(cleaned.dropped.values())
        response.entity_tokens = answer.entity_tokens
        return response


def _fallback(
    reason: agent_runner.FallbackReason, usage: common_pb2.LlmUsage
) -> intent_pb2.PlanPersonasResponse:
    """No personas: the caller serves the V1 path; counted here, with what the failed answer cost."""
    agent_runner.count_fallback(PLANNER_AGENT, reason)
    return intent_pb2.PlanPersonasResponse(usage=usage, fallback=True, fallback_reason=reason.value)


def _as_of(requested: int, interactions: list[Interaction]) -> int:
    """The request's "today", else the user's latest interaction's time, else now."""
    if requested > 0:
        return requested
    latest = max((interaction.timestamp for interaction in interactions), default=0)
    return latest if latest > 0 else int(time.time())
