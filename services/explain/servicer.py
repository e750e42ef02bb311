"""The gRPC face of explanations: checks the request, reads the cache, generates the misses, answers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import grpc
from redis.exceptions import RedisError

from explain import prompt, template
from explain.cache import CachedExplanation, ExplanationCache
from recgpt.common.v1 import common_pb2
from recgpt.explain.v1 import explain_pb2, explain_pb2_grpc
from recgpt_domain import grounding
from recgpt_domain.catalogue import Item
from recgpt_domain.grounding import CatalogueVocabulary
from recgpt_domain.profile_store import METHOD_V1
from recgpt_serving import metrics
from recgpt_serving.agent_runner import InvalidRequest, refusals_as_status
from recgpt_serving.llm.client import LlmClient
from recgpt_serving.llm.errors import LlmError, LlmOutputError

log = logging.getLogger(__name__)

SERVICE_NAME = explain_pb2.DESCRIPTOR.services_by_name["ExplainService"].full_name
AGENT = "explainer"
MAX_PAIRS = 100
MAX_INTEREST_CHARS = 200


@dataclass(frozen=True)
class ExplainConfig:
    max_words: int
    max_chars: int
    llm_deadline_s: float
    max_parallel_llm_calls: int


@dataclass(frozen=True)
class _Pair:
    interest: str
    item: Item
    key: str


@dataclass
class _Generated:
    entry: CachedExplanation
    prompt_tokens: int = 0
    completion_tokens: int = 0
    engine_seconds: float = 0.0


def _pairs(request: explain_pb2.ExplainRequest) -> list[tuple[str, str]]:
    """The request's distinct (interest, item id) pairs in order, interests trimmed; raises InvalidRequest."""
    if len(request.pairs) > MAX_PAIRS:
        raise InvalidRequest(f"at most {MAX_PAIRS} pairs per request, got {len(request.pairs)}")
    pairs: list[tuple[str, str]] = []
    for index, pair in enumerate(request.pairs):
        interest = " ".join(pair.interest.split())
        if not interest:
            raise InvalidRequest(f"pairs[{index}].interest is empty")
        if len(interest) > MAX_INTEREST_CHARS:
            raise InvalidRequest(f"pairs[{index}].interest is longer than {MAX_INTEREST_CHARS} characters")
        if not pair.item_id:
            raise InvalidRequest(f"pairs[{index}].item_id is empty")
        if (interest, pair.item_id) not in pairs:
            pairs.append((interest, pair.item_id))
    return pairs


class ExplainServicer(explain_pb2_grpc.ExplainServiceServicer):
    def __init__(
        self,
        config: ExplainConfig,
        llm: LlmClient,
        items: Mapping[str, Item],
        vocabulary: CatalogueVocabulary,
        cache: ExplanationCache,
    ) -> None:
        self.config = config
        self.llm = llm
        self.items = items
        self.vocabulary = vocabulary
        self.cache = cache
        self._llm_slots = asyncio.Semaphore(config.max_parallel_llm_calls)

    @property
    def model(self) -> str:
        """The configured model names cache keys, so cache-only readers find what the generator wrote."""
        return self.llm.settings.model

    async def Explain(
        self, request: explain_pb2.ExplainRequest, context: grpc.aio.ServicerContext
    ) -> explain_pb2.ExplainResponse:
        if request.method == explain_pb2.METHOD_RECGPT_V2:
            await context.abort(
                grpc.StatusCode.UNIMPLEMENTED, "meta-prompting comes with the RecGPT-V2 issue"
            )
        async with refusals_as_status(context, "explanation cache"):
            return await self._explain(request)
        raise AssertionError("context.abort returned")

    async def _explain(self, request: explain_pb2.ExplainRequest) -> explain_pb2.ExplainResponse:
        pairs = self._known(_pairs(request))
        response = explain_pb2.ExplainResponse()
        if not pairs:
            return response
        cached = await self.cache.get_many([pair.key for pair in pairs])
        entries: dict[str, tuple[CachedExplanation, bool]] = {
            pair.key: (entry, True) for pair, entry in zip(pairs, cached, strict=True) if entry is not None
        }
        misses = [pair for pair, entry in zip(pairs, cached, strict=True) if entry is None]
        if misses and not request.cache_only:
            generated = await asyncio.gather(*(self._generate(pair) for pair in misses))
            await self._store([(pair.key, made.entry) for pair, made in zip(misses, generated, strict=True)])
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

    def _known(self, pairs: list[tuple[str, str]]) -> list[_Pair]:
        known = []
        for interest, item_id in pairs:
            item = self.items.get(item_id)
            if item is None:
                metrics.AGENT_DROPPED_OUTPUTS.labels(AGENT, "unknown_item").inc()
                log.debug("unknown item left out", extra={"item_id": item_id})
                continue
            key = self.cache.key(METHOD_V1, self.model, prompt.PROMPT_VERSION, interest, item_id)
            known.append(_Pair(interest, item, key))
        return known

    async def _generate(self, pair: _Pair) -> _Generated:
        """The LLM's sentence when it is grounded, else the template; never raises for LLM trouble."""
        config = self.config
        try:
            async with self._llm_slots:
                result = await self.llm.structured(
                    AGENT,
                    prompt.messages(pair.interest, pair.item, config.max_words),
                    prompt.ExplanationAnswer,
                    deadline_s=config.llm_deadline_s,
                    max_tokens=prompt.MAX_TOKENS,
                )
        except LlmError as error:
            reason = error.reason if isinstance(error, LlmOutputError) else error.outcome
            return _Generated(
                self._fallback(pair, reason), error.prompt_tokens, error.completion_tokens, error.latency_s
            )
        text = clean(result.value.explanation)
        problems = grounding.check(
            text,
            pair.item,
            self.vocabulary,
            interest=pair.interest,
            max_words=config.max_words,
            max_chars=config.max_chars,
        )
        if problems:
            log.info(
                "ungrounded explanation replaced",
                extra={"item_id": pair.item.item_id, "problems": problems, "text": text},
            )
            entry = self._fallback(pair, problems[0])
        else:
            entry = self._entry(pair, text, fallback=False)
        return _Generated(entry, result.usage.prompt_tokens, result.usage.completion_tokens, result.latency_s)

    def _fallback(self, pair: _Pair, reason: str) -> CachedExplanation:
        metrics.AGENT_FALLBACKS.labels(AGENT, reason).inc()
        text = template.explanation(pair.interest, pair.item, self.config.max_words, self.config.max_chars)
        return self._entry(pair, text, fallback=True)

    def _entry(self, pair: _Pair, text: str, fallback: bool) -> CachedExplanation:
        return CachedExplanation(
            text=text,
            interest=pair.interest,
            item_id=pair.item.item_id,
            model=self.model,
            prompt_version=prompt.PROMPT_VERSION,
            created_at_unix=int(time.time()),
            fallback=fallback,
        )

    async def _store(self, entries: list[tuple[str, CachedExplanation]]) -> None:
        """A failed write still answers the request: the explanations are made, only not kept."""
        try:
            await self.cache.put_many(entries)
        except RedisError as error:
            log.warning("explanations not cached", extra={"error": str(error), "count": len(entries)})


def clean(text: str) -> str:
    """The first sentence, on one line with single spaces and no wrapping quotes: the form checked and shown.

    A small model often writes one good sentence and then rambles; the first sentence is the answer asked for.
    """
    return " ".join(grounding.first_sentence(text.strip("\"'“”` ")).split()).strip("\"'“”` ")


def _to_pb(pair: _Pair, entry: CachedExplanation, cached: bool) -> explain_pb2.Explanation:
    return explain_pb2.Explanation(
        interest=pair.interest,
        item_id=pair.item.item_id,
        text=entry.text,
        cached=cached,
        fallback=entry.fallback,
        provenance=common_pb2.Provenance(
            model=entry.model, prompt_version=entry.prompt_version, created_at_unix=entry.created_at_unix
        ),
    )
