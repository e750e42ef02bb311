"""RecGPT-V2's persona experts and arbiter (`recgpt_domain.persona_tags`): each expert chooses among its own
pool of categories, the arbiter the final N among the experts' picks, both listed by the names the tag
agent's choose mode uses and answered by their numbers (`recgpt_domain.tag_choice.number_schema`).

Untrusted answers: an expert's picks outside its pool are dropped and counted; an expert with none left
falls back with no tags (the caller drops its persona). The arbiter's picks outside the union are dropped;
fewer than N are topped up from the experts' round-robin order; an unusable answer falls back to that order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import grpc

from recgpt.common.v1 import common_pb2
from recgpt.tags.v1 import tags_pb2
from recgpt_domain import tag_choice as choosing
from recgpt_domain.behaviour_context import compress
from recgpt_domain.category_map import CategoryMapper
from recgpt_domain.persona_tags import ExpertPools, arbitrated, union_of
from recgpt_domain.tag_ranking import Candidates
from recgpt_serving import agent_runner, metrics
from recgpt_serving.llm import entity_tokens
from recgpt_serving.llm.errors import LlmError
from recgpt_serving.llm.usage import spent_usage
from tags.prompts import (
    ARBITER_AGENT,
    ARBITER_PROMPT_VERSION,
    EXPERT_AGENT,
    EXPERT_PROMPT_VERSION,
    arbiter_messages,
    arbiter_names,
    expert_messages,
)
from tags.settings import TagsSettings

log = logging.getLogger(__name__)

EXPERT_RATIONALE = "chosen by this persona's expert"
ARBITER_RATIONALE = "chosen by the arbiter among the personas' proposals"
TOPPED_UP_RATIONALE = "proposed by this persona's expert"


@dataclass
class _Chosen:
    """A constrained choice's names, what it cost, or why it failed."""

    names: list[str]
    usage: common_pb2.LlmUsage
    failure: agent_runner.FallbackReason | None = None
    # Items the answered prompt named by entity tokens.
    entity_tokens: int = 0


class PersonaTagger:
    def __init__(
        self,
        settings: TagsSettings,
        deps: agent_runner.AgentDeps,
        mapper: CategoryMapper,
        candidates: Candidates,
    ) -> None:
        self.settings = settings
        self.deps = deps
        self.candidates = candidates
        # The pool the experts' training builds alike (`recgpt_domain.persona_tags`).
        self.pools = ExpertPools(
            candidates.transitions.follows,
            candidates.names,
            mapper if len(mapper) else None,
            settings.expert_near,
            settings.expert_pool,
        )

    async def expert(
        self, request: tags_pb2.ExpertTagsRequest, context: grpc.aio.ServicerContext
    ) -> tags_pb2.ExpertTagsResponse:
        async with agent_runner.refusals_as_status(context, "behaviour store"):
            persona, limit = self._check_expert(request)
            interactions = await agent_runner.read_behaviour(
                self.deps, request.user_id, request.behaviour, self.settings.behaviour_max_interactions
            )
        names = self.candidates.names
        # Embeds the persona's text (the nearest categories): off the event loop.
        pool = await asyncio.to_thread(self.pools.pool, persona, list(request.persona_categories))
        response = tags_pb2.ExpertTagsResponse(pool=pool)
        adapter = await self.deps.llm.adapter_for(EXPERT_AGENT, EXPERT_PROMPT_VERSION)
        response.provenance.CopyFrom(
            agent_runner.provenance(
                self.deps.llm.settings, EXPERT_PROMPT_VERSION, fallback=False, adapter=adapter
            )
        )
        if not pool:
            return _expert_fallback(response, agent_runner.FallbackReason.TOO_FEW_VALID)
        short = compress(interactions, self.deps.items, self.settings.expert_budget_tokens).text
        pool_names = [names[category] for category in pool]
        chosen = await self._choose(
            EXPERT_AGENT,
            entity_tokens.Asked(expert_messages(persona, short, pool_names, limit)),
            False,
            pool_names,
            limit,
            self.settings.expert_max_tokens,
            adapter,
            context,
        )
        response.usage.CopyFrom(chosen.usage)
        if chosen.failure is not None:
            return _expert_fallback(response, chosen.failure)
        by_name = dict(zip(pool_names, pool, strict=True))
        categories = choosing.chosen_categories(chosen.names, by_name, limit)
        response.outside_pool = sum(
            1 for name in chosen.names if choosing.category_named(name, by_name) is None
        )
        if response.outside_pool:
            metrics.AGENT_DROPPED_OUTPUTS.labels(EXPERT_AGENT, "outside_pool").inc(response.outside_pool)
        if not categories:
            return _expert_fallback(response, agent_runner.FallbackReason.TOO_FEW_VALID)
        response.tags.extend(
            _tags(
                categories,
                names,
                dict.fromkeys(categories, persona),
                dict.fromkeys(categories, EXPERT_RATIONALE),
            )
        )
        return response

    async def arbitrate(
        self, request: tags_pb2.ArbitrateTagsRequest, context: grpc.aio.ServicerContext
    ) -> tags_pb2.ArbitrateTagsResponse:
        async with agent_runner.refusals_as_status(context, "behaviour store"):
            limit = self._check_arbiter(request)
            interactions = await agent_runner.read_behaviour(
                self.deps, request.user_id, request.behaviour, self.settings.behaviour_max_interactions
            )
        names = self.candidates.names
        union = union_of(_picks_by_persona(request.candidates, names))
        metrics.EXPERT_DUPLICATE_SHARE.observe(union.duplicate_share)
        adapter = await self.deps.llm.adapter_for(ARBITER_AGENT, ARBITER_PROMPT_VERSION)
        response = tags_pb2.ArbitrateTagsResponse(duplicates=union.duplicates, distinct=len(union.categories))
        if not union.categories:
            agent_runner.count_fallback(ARBITER_AGENT, agent_runner.FallbackReason.EMPTY_SUBJECT)
            response.fallback, response.fallback_reason = (
                True,
                agent_runner.FallbackReason.EMPTY_SUBJECT.value,
            )
        else:
            entities = self.deps.entities
            want = entity_tokens.wants_entities(request.item_representation, self.settings.entity_tokens)
            behaviour = compress(
                interactions,
                self.deps.items,
                self.settings.arbiter_budget_tokens,
                entity_items=entities if want and entities is not None else (),
            )
            grouped: dict[str, list[str]] = {}
            for category in union.categories:
                grouped.setdefault(union.persona_of[category], []).append(names[category])
            proposals = list(grouped.items())
            union_names = arbiter_names(proposals)
            chosen = await self._choose(
                ARBITER_AGENT,
                entity_tokens.Asked.of(behaviour, lambda text: arbiter_messages(text, proposals, limit)),
                want,
                union_names,
                limit,
                self.settings.arbiter_max_tokens,
                adapter,
                context,
            )
            response.usage.CopyFrom(chosen.usage)
            response.entity_tokens = chosen.entity_tokens
            by_name = {names[category]: category for category in union.categories}
            picked = choosing.chosen_categories(chosen.names, by_name, limit)
            if chosen.failure is not None or not picked:
                reason = chosen.failure or agent_runner.FallbackReason.TOO_FEW_VALID
                agent_runner.count_fallback(ARBITER_AGENT, reason)
                response.fallback, response.fallback_reason = True, reason.value
                picked = []
            final, response.topped_up = arbitrated(picked, union.categories, limit)
            if response.topped_up and not response.fallback:
                metrics.AGENT_DROPPED_OUTPUTS.labels(ARBITER_AGENT, "topped_up").inc(response.topped_up)
            rationales = {c: ARBITER_RATIONALE if c in picked else TOPPED_UP_RATIONALE for c in final}
            response.tags.extend(_tags(final, names, union.persona_of, rationales))
        response.provenance.CopyFrom(
            agent_runner.provenance(
                self.deps.llm.settings, ARBITER_PROMPT_VERSION, fallback=response.fallback, adapter=adapter
            )
        )
        return response

    async def _choose(
        self,
        agent: str,
        asked: entity_tokens.Asked,
        want_entities: bool,
        names: Sequence[str],
        limit: int,
        max_tokens: int,
        adapter: str,
        context: grpc.aio.ServicerContext,
    ) -> _Chosen:
        try:
            answer = await entity_tokens.ask_structured(
                self.deps.llm,
                self.deps.entities,
                agent,
                asked,
                want_entities,
                choosing.number_schema(len(names), limit),
                deadline_s=agent_runner.llm_deadline(context, self.settings),
                max_tokens=max_tokens,
                temperature=self.settings.tag_temperature,
                adapter=adapter,
            )
        except LlmError as error:
            reason = agent_runner.fallback_reason(error)
            log.warning(f"{agent} fell back", extra={"reason": reason, "error": str(error)})
            return _Chosen([], spent_usage(error), reason)
        result = answer.result
        usage = common_pb2.LlmUsage(
            prompt_tokens=result.usage.prompt_tokens,
            completion_tokens=result.usage.completion_tokens,
            engine_seconds=result.latency_s,
        )
        picked = choosing.named_by_numbers(result.value.tags, names)
        return _Chosen(picked, usage, entity_tokens=answer.entity_tokens)

    def _check_expert(self, request: tags_pb2.ExpertTagsRequest) -> tuple[str, int]:
        settings = self.settings
        persona = " ".join(request.persona.split())
        if not persona:
            raise agent_runner.InvalidRequest("persona is empty")
        if len(persona) > settings.max_persona_chars:
            raise agent_runner.InvalidRequest(f"persona longer than {settings.max_persona_chars} characters")
        if len(request.persona_categories) > settings.max_persona_categories:
            raise agent_runner.InvalidRequest(
                f"too many persona categories: {len(request.persona_categories)}, "
                f"at most {settings.max_persona_categories}"
            )
        self._check_common(request.user_id, len(request.behaviour), request.max_tags)
        return persona, min(request.max_tags or settings.expert_tags, settings.max_tags_limit)

    def _check_arbiter(self, request: tags_pb2.ArbitrateTagsRequest) -> int:
        settings = self.settings
        if len(request.candidates) > settings.max_arbiter_candidates:
            raise agent_runner.InvalidRequest(
                f"too many candidates: {len(request.candidates)}, at most {settings.max_arbiter_candidates}"
            )
        self._check_common(request.user_id, len(request.behaviour), request.max_tags)
        return min(request.max_tags or settings.arbiter_tags, settings.max_tags_limit)

    def _check_common(self, user_id: str, behaviour: int, max_tags: int) -> None:
        settings = self.settings
        if len(user_id) > settings.max_user_id_chars:
            raise agent_runner.InvalidRequest(f"user_id longer than {settings.max_user_id_chars} characters")
        if behaviour > settings.max_behaviour_entries:
            raise agent_runner.InvalidRequest(
                f"too many behaviour entries: {behaviour}, at most {settings.max_behaviour_entries}"
            )
        if max_tags < 0:
            raise agent_runner.InvalidRequest(f"max_tags must be >= 0 (0 = default), got {max_tags}")


def _picks_by_persona(
    candidates: Sequence[common_pb2.Tag], names: Mapping[str, str]
) -> list[tuple[str, list[str]]]:
    """The candidates grouped by persona (in first-seen order); categories without a name are left out."""
    grouped: dict[str, list[str]] = {}
    for tag in candidates:
        if tag.category in names:
            grouped.setdefault(tag.interest, []).append(tag.category)
    return list(grouped.items())


def _tags(
    categories: Sequence[str],
    names: Mapping[str, str],
    persona_of: Mapping[str, str],
    rationales: Mapping[str, str],
) -> list[common_pb2.Tag]:
    """A tag per category, named by its category tag, tied to its persona."""
    return [
        common_pb2.Tag(
            tag=names[category],
            interest=persona_of.get(category, ""),
            rationale=rationales[category],
            category=category,
            category_score=1.0,
        )
        for category in categories
    ]


def _expert_fallback(
    response: tags_pb2.ExpertTagsResponse, reason: agent_runner.FallbackReason
) -> tags_pb2.ExpertTagsResponse:
    agent_runner.count_fallback(EXPERT_AGENT, reason)
    response.fallback, response.fallback_reason = True, reason.value
    response.provenance.fallback = True
    return response
