"""The gRPC face of tag prediction: checks the request, asks the LLM, validates and maps every tag.

Three modes (`RECGPT_TAG_MODE`): the LLM writes tags (generate); it orders the catalogue categories the
statistics propose for the user by its likelihood (rank, `recgpt_domain.tag_ranking`); or it picks among
them in one constrained answer (choose, `recgpt_domain.tag_choice`). RecGPT-V2's experts and arbiter
(ExpertTags, ArbitrateTags) choose among the same categories: `tags.personas`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc
from pydantic import BaseModel

from recgpt.common.v1 import common_pb2
from recgpt.tags.v1 import tags_pb2, tags_pb2_grpc
from recgpt_domain import tag_choice as choosing
from recgpt_domain import tag_ranking as ranking
from recgpt_domain.behaviour_context import BehaviourContext, compress
from recgpt_domain.category_map import CategoryMapper
from recgpt_domain.prompt_versions import TAG_PROMPT_VERSIONS
from recgpt_domain.tag_ranking import Candidates
from recgpt_serving import agent_runner
from recgpt_serving.llm.client import LlmResult, Message
from recgpt_serving.llm.errors import LlmError
from recgpt_serving.llm.usage import spent_usage
from tags import prompts
from tags.fallback import STATISTICS_RATIONALE, frequent_category_tags
from tags.personas import PersonaTagger
from tags.prompts import AGENT
from tags.schema import answer_schema
from tags.settings import TagsSettings
from tags.validation import TagChecker

log = logging.getLogger(__name__)

# Why a ranked or chosen tag is served (the model writes no rationale in those modes).
RANKED_RATIONALE = "likely next need"
CHOSEN_RATIONALE = "chosen as a likely next need"

T = TypeVar("T", bound=BaseModel)


@dataclass
class _Predicted:
    tags: list[common_pb2.Tag]
    usage: common_pb2.LlmUsage
    fallback: bool


class TagsServicer(agent_runner.AgentServicer[TagsSettings], tags_pb2_grpc.TagsServiceServicer):
    def __init__(
        self,
        settings: TagsSettings,
        deps: agent_runner.AgentDeps,
        mapper: CategoryMapper,
        *,
        candidates: Candidates | None = None,
    ) -> None:
        if settings.tag_mode in ("rank", "choose") and candidates is None:
            raise ValueError(f"{settings.tag_mode} mode needs the candidates' statistics")
        super().__init__(settings, deps)
        self.mapper = mapper
        self.checker = TagChecker(settings, mapper)
        self.candidates = candidates
        self.prompt_version = TAG_PROMPT_VERSIONS[settings.tag_mode]
        # RecGPT-V2's experts and arbiter choose among the statistics' categories too.
        self.personas = PersonaTagger(settings, deps, mapper, candidates) if candidates is not None else None

    async def ExpertTags(
        self, request: tags_pb2.ExpertTagsRequest, context: grpc.aio.ServicerContext
    ) -> tags_pb2.ExpertTagsResponse:
        if self.personas is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "this tags service has no category statistics")
        assert self.personas is not None
        return await self.personas.expert(request, context)

    async def ArbitrateTags(
        self, request: tags_pb2.ArbitrateTagsRequest, context: grpc.aio.ServicerContext
    ) -> tags_pb2.ArbitrateTagsResponse:
        if self.personas is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "this tags service has no category statistics")
        assert self.personas is not None
        return await self.personas.arbitrate(request, context)

    async def PredictTags(
        self, request: tags_pb2.PredictTagsRequest, context: grpc.aio.ServicerContext
    ) -> tags_pb2.PredictTagsResponse:
        async with agent_runner.refusals_as_status(context, "behaviour store"):
            limit, interests = self._check(request)
            interactions = await agent_runner.read_behaviour(
                self.deps, request.user_id, request.behaviour, self.settings.behaviour_max_interactions
            )
        behaviour = compress(interactions, self.deps.items, self.settings.behaviour_budget_tokens)
        adapter = await self.deps.llm.adapter_for(AGENT, self.prompt_version)
        predicted = await self._predict(behaviour, interests, limit, adapter, context)
        return tags_pb2.PredictTagsResponse(
            tags=predicted.tags,
            provenance=agent_runner.provenance(
                self.deps.llm.settings,
                self.prompt_version,
                fallback=predicted.fallback,
                adapter=adapter,
            ),
            usage=predicted.usage,
            fallback=predicted.fallback,
        )

    async def MapToCategories(
        self, request: tags_pb2.MapToCategoriesRequest, context: grpc.aio.ServicerContext
    ) -> tags_pb2.MapToCategoriesResponse:
        try:
            texts = self._check_map(request.tags)
        except agent_runner.InvalidRequest as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        matches = await asyncio.to_thread(self.mapper.map, texts) if texts else []
        return tags_pb2.MapToCategoriesResponse(
            tags=[
                common_pb2.Tag(tag=text, category=match.category, category_score=match.score)
                for text, match in zip(texts, matches, strict=True)
            ]
        )

    def _check(self, request: tags_pb2.PredictTagsRequest) -> tuple[int, list[str]]:
        """The number of tags to ask for and the request's distinct interests; raises InvalidRequest."""
        settings = self.settings
        if len(request.user_id) > settings.max_user_id_chars:
            raise agent_runner.InvalidRequest(f"user_id longer than {settings.max_user_id_chars} characters")
        if len(request.behaviour) > settings.max_behaviour_entries:
            raise agent_runner.InvalidRequest(
                f"too many behaviour entries: {len(request.behaviour)}, "
                f"at most {settings.max_behaviour_entries}"
            )
        if request.max_tags < 0:
            raise agent_runner.InvalidRequest(f"max_tags must be >= 0 (0 = default), got {request.max_tags}")
        if len(request.interests) > settings.max_request_interests:
            raise agent_runner.InvalidRequest(
                f"too many interests: {len(request.interests)}, at most {settings.max_request_interests}"
            )
        interests: dict[str, str] = {}
        for position, interest in enumerate(request.interests):
            text = " ".join(interest.interest.split())
            if len(text) > settings.max_interest_chars:
                raise agent_runner.InvalidRequest(
                    f"interests[{position}] longer than {settings.max_interest_chars} characters"
                )
            if text:
                interests.setdefault(text.casefold(), text)
        limit = min(request.max_tags or settings.max_tags, settings.max_tags_limit)
        return limit, list(interests.values())

    def _check_map(self, tags: Sequence[str]) -> list[str]:
        if len(tags) > self.settings.max_map_tags:
            raise agent_runner.InvalidRequest(
                f"too many tags: {len(tags)}, at most {self.settings.max_map_tags}"
            )
        texts = [" ".join(tag.split()) for tag in tags]
        for position, text in enumerate(texts):
            if not text:
                raise agent_runner.InvalidRequest(f"tags[{position}] is empty")
            if len(text) > self.settings.max_map_tag_chars:
                raise agent_runner.InvalidRequest(
                    f"tags[{position}] longer than {self.settings.max_map_tag_chars} characters"
                )
        return texts

    async def _predict(
        self,
        behaviour: BehaviourContext,
        interests: list[str],
        limit: int,
        adapter: str,
        context: grpc.aio.ServicerContext,
    ) -> _Predicted:
        if not interests:
            # Nothing for the LLM to tie tags to: the user's frequent categories (none without behaviour).
            reason = (
                agent_runner.FallbackReason.NO_INTERESTS
                if behaviour.items_total
                else agent_runner.FallbackReason.NO_BEHAVIOUR
            )
            return await self._fallback(reason, behaviour, interests, limit)
        if self.candidates is not None and self.settings.tag_mode in ("rank", "choose"):
            pool = self.candidates.pool(behaviour, self.deps.items, self.settings.tag_rank_pool)
            if not pool:
                return await self._fallback(
                    agent_runner.FallbackReason.TOO_FEW_VALID, behaviour, interests, limit
                )
            over_pool = self._rank if self.settings.tag_mode == "rank" else self._choose
            return await over_pool(self.candidates, pool, behaviour, interests, limit, adapter, context)

        def fall_back(reason: agent_runner.FallbackReason) -> Awaitable[_Predicted]:
            return self._fallback(reason, behaviour, interests, limit)

        answered = await self._structured(
            prompts.messages(behaviour.text, interests, limit),
            answer_schema(limit, interests),
            adapter,
            context,
            fall_back,
        )
        if isinstance(answered, _Predicted):
            return answered
        answer, usage = answered
        seen_titles = [
            self.deps.items[item_id].title
            for item_id in behaviour.recent_item_ids[: self.settings.owned_check_items]
        ]
        tags = await asyncio.to_thread(self.checker.clean, answer.tags, interests, seen_titles, limit)
        return await _served(tags, usage, fall_back)

    async def _structured(
        self,
        messages: list[Message],
        schema: type[T],
        adapter: str,
        context: grpc.aio.ServicerContext,
        fall_back: Callable[[agent_runner.FallbackReason], Awaitable[_Predicted]],
    ) -> tuple[T, common_pb2.LlmUsage] | _Predicted:
        """One schema-constrained answer and what it cost; on failure, `fall_back`'s, with the cost spent."""
        try:
            result = await self.deps.llm.structured(
                AGENT,
                messages,
                schema,
                deadline_s=agent_runner.llm_deadline(context, self.settings),
                max_tokens=self.settings.tag_max_tokens,
                temperature=self.settings.tag_temperature,
                adapter=adapter,
            )
        except LlmError as error:
            reason = agent_runner.fallback_reason(error)
            log.warning(
                "tag prediction fell back",
                extra={"reason": reason, "mode": self.settings.tag_mode, "error": str(error)},
            )
            predicted = await fall_back(reason)
            predicted.usage.CopyFrom(spent_usage(error))
            return predicted
        usage = common_pb2.LlmUsage(
            prompt_tokens=result.usage.prompt_tokens,
            completion_tokens=result.usage.completion_tokens,
            engine_seconds=result.latency_s,
        )
        return result.value, usage

    async def _rank(
        self,
        candidates: Candidates,
        pool: list[str],
        behaviour: BehaviourContext,
        interests: list[str],
        limit: int,
        adapter: str,
        context: grpc.aio.ServicerContext,
    ) -> _Predicted:
        """The statistics' candidates ordered by the model's likelihood of each as the answer's first tag."""
        messages = prompts.messages(behaviour.text, interests, limit)
        started = time.perf_counter()
        ends = started + agent_runner.llm_deadline(context, self.settings)
        gate = asyncio.Semaphore(self.settings.tag_rank_concurrency)

        async def score(category: str) -> LlmResult[float] | LlmError:
            async with gate:
                try:
                    return await self.deps.llm.text_logprob(
                        AGENT,
                        messages,
                        ranking.answer_start(candidates.names[category]),
                        deadline_s=max(agent_runner.MIN_LLM_DEADLINE_S, ends - time.perf_counter()),
                        adapter=adapter,
                    )
                except LlmError as error:
                    return error

        scored = await asyncio.gather(*(score(category) for category in pool))
        failures = [value for value in scored if isinstance(value, LlmError)]
        if failures:
            reason = agent_runner.fallback_reason(failures[0])
            log.warning(
                "tag ranking fell back",
                extra={"reason": reason, "error": str(failures[0]), "failed": len(failures)},
            )
            unranked = ranking.named_category_tags(pool[:limit], candidates.names, STATISTICS_RATIONALE)
            return await self._fallback(reason, behaviour, interests, limit, unranked)
        results = [value for value in scored if not isinstance(value, LlmError)]
        ranked = ranking.by_score(pool, [result.value for result in results])
        if self.settings.tag_rank_fuse_statistics:
            ranked = ranking.fuse(pool, ranked)
        tags = ranking.named_category_tags(ranked[:limit], candidates.names, RANKED_RATIONALE)
        tags = await asyncio.to_thread(self.checker.tie_to_interests, tags, interests)
        usage = common_pb2.LlmUsage(
            prompt_tokens=sum(result.usage.prompt_tokens for result in results),
            completion_tokens=sum(result.usage.completion_tokens for result in results),
            engine_seconds=time.perf_counter() - started,
        )
        return _Predicted(tags, usage, fallback=False)

    async def _choose(
        self,
        candidates: Candidates,
        pool: list[str],
        behaviour: BehaviourContext,
        interests: list[str],
        limit: int,
        adapter: str,
        context: grpc.aio.ServicerContext,
    ) -> _Predicted:
        """The model's picks among the statistics' candidates, in its order; the pool's order on failure."""
        names = [candidates.names[category] for category in pool]
        unranked = ranking.named_category_tags(pool[:limit], candidates.names, STATISTICS_RATIONALE)

        def fall_back(reason: agent_runner.FallbackReason) -> Awaitable[_Predicted]:
            return self._fallback(reason, behaviour, interests, limit, unranked)

        answered = await self._structured(
            prompts.choose_messages(behaviour.text, interests, names, limit),
            choosing.number_schema(len(names), limit),
            adapter,
            context,
            fall_back,
        )
        if isinstance(answered, _Predicted):
            return answered
        answer, usage = answered
        by_name = {name: category for category, name in zip(pool, names, strict=True)}
        chosen = choosing.chosen_categories(choosing.named_by_numbers(answer.tags, names), by_name, limit)
        tags = ranking.named_category_tags(chosen, candidates.names, CHOSEN_RATIONALE)
        if tags:
            tags = await asyncio.to_thread(self.checker.tie_to_interests, tags, interests)
        return await _served(tags, usage, fall_back)

    async def _fallback(
        self,
        reason: agent_runner.FallbackReason,
        behaviour: BehaviourContext,
        interests: list[str],
        limit: int,
        tags: list[common_pb2.Tag] | None = None,
    ) -> _Predicted:
        """Counted; `tags` when the caller has a better non-LLM list, else the frequent categories."""
        agent_runner.count_fallback(AGENT, reason)
        if tags is None:
            tags = frequent_category_tags(behaviour, limit)
        if tags and interests:
            tags = await asyncio.to_thread(self.checker.tie_to_interests, tags, interests)
        return _Predicted(tags, common_pb2.LlmUsage(), fallback=True)


async def _served(
    tags: list[common_pb2.Tag],
    usage: common_pb2.LlmUsage,
    fall_back: Callable[[agent_runner.FallbackReason], Awaitable[_Predicted]],
) -> _Predicted:
    """The LLM's tags, or, when none survived the checks, the fallback's with what the answer cost."""
    if tags:
        return _Predicted(tags, usage, fallback=False)
    predicted = await fall_back(agent_runner.FallbackReason.TOO_FEW_VALID)
    predicted.usage.CopyFrom(usage)
    return predicted
