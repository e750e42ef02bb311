"""The gRPC face of explanations: checks the request, reads the cache, generates the misses, answers.

METHOD_RECGPT_V2 writes by meta-prompting (explain.meta_prompting), with the V1 path as its next-best one."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import grpc
from redis.exceptions import RedisError

from explain import fallback, prompts, validation
from explain.cache import CachedExplanation, ExplanationCache
from explain.meta_prompting import MetaPrompter
from explain.prompts import AGENT
from explain.schema import ExplanationAnswer
from explain.settings import ExplainSettings
from recgpt.common.v1 import common_pb2
from recgpt.explain.v1 import explain_pb2, explain_pb2_grpc
from recgpt_domain import grounding
from recgpt_domain.catalogue import Item
from recgpt_domain.grounding import CatalogueVocabulary
from recgpt_domain.profile_store import METHOD_V1, METHOD_V2
from recgpt_domain.situation import Situation
from recgpt_serving import agent_runner, metrics
from recgpt_serving.llm.errors import LlmError
from recgpt_serving.llm.usage import Usage

log = logging.getLogger(__name__)

MAX_PAIRS = 100
MAX_INTEREST_CHARS = 200


@dataclass(frozen=True)
class _Pair:
    interest: str
    item: Item
    key: str
    # The adapter this request's explanations come from ("" for the base model): it keys the cache.
    adapter: str
    # RecGPT-V2: the shopper's situation, and the adapter of its next-best path (V1's prompt); None for V1.
    situation: Situation | None = None
    v1_adapter: str = ""


@dataclass
class _Generated:
    entry: CachedExplanation
    prompt_tokens: int = 0
    completion_tokens: int = 0
    engine_seconds: float = 0.0
    # False for an explanation the panel's rules judge Bad: it is served, never cached.
    cacheable: bool = True


def _pairs(request: explain_pb2.ExplainRequest) -> list[tuple[str, str]]:
    """The request's distinct (interest, item id) pairs in order, interests trimmed; raises InvalidRequest."""
    if request.cache_only and request.bypass_cache:
        raise agent_runner.InvalidRequest("cache_only and bypass_cache exclude each other: set at most one")
    if len(request.pairs) > MAX_PAIRS:
        raise agent_runner.InvalidRequest(f"at most {MAX_PAIRS} pairs per request, got {len(request.pairs)}")
    pairs: list[tuple[str, str]] = []
    for index, pair in enumerate(request.pairs):
        interest = " ".join(pair.interest.split())
        if not interest:
            raise agent_runner.InvalidRequest(f"pairs[{index}].interest is empty")
        if len(interest) > MAX_INTEREST_CHARS:
            raise agent_runner.InvalidRequest(
                f"pairs[{index}].interest is longer than {MAX_INTEREST_CHARS} characters"
            )
        if not pair.item_id:
            raise agent_runner.InvalidRequest(f"pairs[{index}].item_id is empty")
        if (interest, pair.item_id) not in pairs:
            pairs.append((interest, pair.item_id))
    return pairs


class ExplainServicer(agent_runner.AgentServicer[ExplainSettings], explain_pb2_grpc.ExplainServiceServicer):
    def __init__(
        self,
        settings: ExplainSettings,
        deps: agent_runner.AgentDeps,
        vocabulary: CatalogueVocabulary,
        cache: ExplanationCache,
    ) -> None:
        super().__init__(settings, deps)
        self.vocabulary = vocabulary
        self.cache = cache
        self._llm_slots = asyncio.Semaphore(settings.max_parallel_llm_calls)
        self.meta = MetaPrompter(deps.llm, settings, vocabulary, self._llm_slots)

    @property
    def model(self) -> str:
        """The configured model names cache keys, so cache-only readers find what the generator wrote."""
        return self.deps.llm.settings.model

    async def Explain(
        self, request: explain_pb2.ExplainRequest, context: grpc.aio.ServicerContext
    ) -> explain_pb2.ExplainResponse:
        async with agent_runner.refusals_as_status(context, "explanation cache"):
            return await self._explain(request, context)
        raise AssertionError("context.abort returned")

    async def _explain(
        self, request: explain_pb2.ExplainRequest, context: grpc.aio.ServicerContext
    ) -> explain_pb2.ExplainResponse:
        # Chosen (and loaded) before the cache is read: an adapter's entries are never read for another's.
        v1_adapter = await self.deps.llm.adapter_for(AGENT, prompts.PROMPT_VERSION)
        situation = None
        adapter = v1_adapter
        if request.method == explain_pb2.METHOD_RECGPT_V2:
            situation = Situation.from_map(request.situation)
            adapter = await self.deps.llm.adapter_for(AGENT, prompts.PROMPT_VERSION_V2)
        pairs = self._known(_pairs(request), adapter, situation, v1_adapter)
        response = explain_pb2.ExplainResponse()
        if not pairs:
            return response
        cached = await self._cached(pairs, request.bypass_cache)
        entries: dict[str, tuple[CachedExplanation, bool]] = {
            pair.key: (entry, True) for pair, entry in zip(pairs, cached, strict=True) if entry is not None
        }
        misses = [pair for pair, entry in zip(pairs, cached, strict=True) if entry is None]
        if misses and not request.cache_only:
            generated = await asyncio.gather(*(self._generate_any(pair, context) for pair in misses))
            if not request.bypass_cache:
                await self._store(
                    [
                        (pair.key, made.entry)
                        for pair, made in zip(misses, generated, strict=True)
                        if made.cacheable
                    ]
                )
            for pair, made in zip(misses, generated, strict=True):
                entries[pair.key] = (made.entry, False)
                response.usage.prompt_tokens += made.prompt_tokens
                response.usage.completion_tokens += made.completion_tokens
                response.usage.engine_seconds += made.engine_seconds
        for pair in pairs:
            if pair.key in entries:
                entry, was_cached = entries[pair.key]
                response.explanations.append(_to_pb(pair, entry, was_cached))
        return response

    async def _cached(self, pairs: list[_Pair], bypass: bool) -> list[CachedExplanation | None]:
        """What the cache holds for each pair; nothing when bypassed, for offline evaluation, whose figures
        must not depend on what earlier runs left in the cache."""
        if bypass:
            return [None] * len(pairs)
        return await self.cache.get_many([pair.key for pair in pairs])

    def _known(
        self, pairs: list[tuple[str, str]], adapter: str, situation: Situation | None, v1_adapter: str
    ) -> list[_Pair]:
        known = []
        for interest, item_id in pairs:
            item = self.deps.items.get(item_id)
            if item is None:
                metrics.AGENT_DROPPED_OUTPUTS.labels(AGENT, "unknown_item").inc()
                log.debug("unknown item left out", extra={"item_id": item_id})
                continue
            if situation is None:
                key = self.cache.key(
                    METHOD_V1, self.model, adapter, prompts.PROMPT_VERSION, interest, item_id
                )
            else:
                key = self.cache.key(
                    METHOD_V2,
                    self.model,
                    adapter,
                    prompts.PROMPT_VERSION_V2,
                    interest,
                    item_id,
                    situation.kind,
                )
            known.append(_Pair(interest, item, key, adapter, situation, v1_adapter))
        return known

    async def _generate_any(self, pair: _Pair, context: grpc.aio.ServicerContext) -> _Generated:
        if pair.situation is None:
            return await self._generate(pair, context)
        return await self._generate_v2(pair, pair.situation, context)

    async def _generate_v2(
        self, pair: _Pair, situation: Situation, context: grpc.aio.ServicerContext
    ) -> _Generated:
        """Meta-prompting's sentence, else the V1 path's (its LLM sentence or template), which is cached
        only when the panel's rules find no defect in it."""
        outcome = await self.meta.write(
            pair.interest,
            pair.item,
            situation,
            pair.adapter,
            lambda: agent_runner.llm_deadline(context, self.settings),
        )
        usage = outcome.usage or Usage()
        if outcome.next_best is None:
            entry = self._entry(pair, outcome.text, fallback=False)
            entry.style = outcome.guideline
            entry.prompt_version = prompts.PROMPT_VERSION_V2
            return _Generated(entry, usage.prompt_tokens, usage.completion_tokens, usage.engine_seconds)
        made = await self._generate(pair, context, adapter=pair.v1_adapter)
        made.entry.next_best = True
        made.entry.adapter = pair.v1_adapter
        made.cacheable = not self.meta.defects(made.entry.text, pair.item, pair.interest, situation)
        made.prompt_tokens += usage.prompt_tokens
        made.completion_tokens += usage.completion_tokens
        made.engine_seconds += usage.engine_seconds
        return made

    async def _generate(
        self, pair: _Pair, context: grpc.aio.ServicerContext, adapter: str | None = None
    ) -> _Generated:
        """The LLM's sentence when it is grounded, else the template; never raises for LLM trouble."""
        try:
            async with self._llm_slots:
                result = await self.deps.llm.structured(
                    AGENT,
                    prompts.messages(pair.interest, pair.item, self.settings.max_words),
                    ExplanationAnswer,
                    # Fitted once a slot is free: the wait for it came out of the caller's time.
                    deadline_s=agent_runner.llm_deadline(context, self.settings),
                    max_tokens=prompts.MAX_TOKENS,
                    adapter=pair.adapter if adapter is None else adapter,
                )
        except LlmError as error:
            return _Generated(
                self._fallback(pair, agent_runner.fallback_reason(error)),
                error.prompt_tokens,
                error.completion_tokens,
                error.latency_s,
            )
        text = grounding.shown_sentence(result.value.explanation)
        problems = validation.problems(text, pair.item, pair.interest, self.vocabulary, self.settings)
        if problems:
            log.info(
                "ungrounded explanation replaced",
                extra={"item_id": pair.item.item_id, "problems": problems, "text": text},
            )
            entry = self._fallback(pair, agent_runner.FallbackReason.UNGROUNDED)
        else:
            entry = self._entry(pair, text, fallback=False)
        return _Generated(entry, result.usage.prompt_tokens, result.usage.completion_tokens, result.latency_s)

    def _fallback(self, pair: _Pair, reason: agent_runner.FallbackReason) -> CachedExplanation:
        agent_runner.count_fallback(AGENT, reason)
        settings = self.settings
        text = fallback.explanation(pair.interest, pair.item, settings.max_words, settings.max_chars)
        return self._entry(pair, text, fallback=True)

    def _entry(self, pair: _Pair, text: str, fallback: bool) -> CachedExplanation:
        return CachedExplanation(
            text=text,
            interest=pair.interest,
            item_id=pair.item.item_id,
            model=self.model,
            adapter=pair.adapter,
            prompt_version=prompts.PROMPT_VERSION,
            created_at_unix=int(time.time()),
            fallback=fallback,
        )

    async def _store(self, entries: list[tuple[str, CachedExplanation]]) -> None:
        """A failed write still answers the request: the explanations are made, only not kept."""
        try:
            await self.cache.put_many(entries)
        except RedisError as error:
            log.warning("explanations not cached", extra={"error": str(error), "count": len(entries)})


def _to_pb(pair: _Pair, entry: CachedExplanation, cached: bool) -> explain_pb2.Explanation:
    """A cached entry keeps the provenance it was made with."""
    return explain_pb2.Explanation(
        interest=pair.interest,
        item_id=pair.item.item_id,
        text=entry.text,
        style=entry.style,
        cached=cached,
        fallback=entry.fallback,
        provenance=common_pb2.Provenance(
            model=entry.model,
            adapter=entry.adapter,
            prompt_version=entry.prompt_version,
            created_at_unix=entry.created_at_unix,
            fallback=entry.fallback,
        ),
    )
