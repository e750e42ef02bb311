"""Fake intent, tags, retrieval, explain and judge servicers on one in-process gRPC server (port 0).

Deterministic answers, known usage, and a record of every request, so the CLIs' whole path can be checked
without vLLM. Movies 1-7 are served; the catalogue a test writes may hold more (an unserved item).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc

from recgpt.common.v1 import common_pb2
from recgpt.explain.v1 import explain_pb2, explain_pb2_grpc
from recgpt.intent.v1 import intent_pb2, intent_pb2_grpc
from recgpt.judge.v1 import judge_pb2, judge_pb2_grpc
from recgpt.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from recgpt.tags.v1 import tags_pb2, tags_pb2_grpc
from recgpt_serving import service_names
from tests.grpc_servers import registration, serving

MODEL = "fake-model"
INTERESTS_VERSION = "interests-test"
TAGS_VERSION = "tags-test"
INTEREST = "comedy films"
GENRES = {
    "1": "Comedy",
    "2": "Comedy",
    "3": "Drama",
    "4": "Drama",
    "5": "Horror",
    "6": "Horror",
    "7": "Sci-Fi",
}
SERVED = {
    item_id: common_pb2.Item(item_id=item_id, title=f"Movie {item_id}", category_path=["Movies", genre])
    for item_id, genre in GENRES.items()
}
# Per call: intent, tags, explain, judge.
INTENT_USAGE = common_pb2.LlmUsage(prompt_tokens=10, completion_tokens=5, engine_seconds=0.5)
TAGS_USAGE = common_pb2.LlmUsage(prompt_tokens=20, completion_tokens=10, engine_seconds=1.0)
EXPLAIN_USAGE = common_pb2.LlmUsage(prompt_tokens=30, completion_tokens=15, engine_seconds=1.5)
JUDGE_USAGE = common_pb2.LlmUsage(prompt_tokens=7, completion_tokens=3, engine_seconds=0.25)
COLLABORATIVE_LIMIT = 3


@dataclass
class Seen:
    """Requests each fake received, by method name."""

    calls: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, method: str, request: Any) -> None:
        self.calls.setdefault(method, []).append(request)

    def of(self, method: str) -> list[Any]:
        return self.calls.get(method, [])


ADAPTER = "fake-adapter"


def provenance(version: str, fallback: bool = False) -> common_pb2.Provenance:
    return common_pb2.Provenance(
        model=MODEL, prompt_version=version, created_at_unix=1, adapter=ADAPTER, fallback=fallback
    )


@dataclass(frozen=True)
class Fallbacks:
    """Users for whom an agent answers with its non-LLM fallback, by agent."""

    interests: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    explanations: frozenset[str] = frozenset()


class FakeIntent(intent_pb2_grpc.IntentServiceServicer):
    def __init__(self, seen: Seen, fail_users: set[str], delay_s: float, fallbacks: Fallbacks) -> None:
        self.seen, self.fail_users, self.delay_s, self.fallbacks = seen, fail_users, delay_s, fallbacks

    async def MineInterests(
        self, request: intent_pb2.MineInterestsRequest, context: grpc.aio.ServicerContext
    ) -> intent_pb2.MineInterestsResponse:
        self.seen.add("MineInterests", request)
        await asyncio.sleep(self.delay_s)
        if request.user_id in self.fail_users:
            await context.abort(grpc.StatusCode.INTERNAL, "boom")
        fallback = request.user_id in self.fallbacks.interests
        return intent_pb2.MineInterestsResponse(
            interests=[common_pb2.Interest(interest=INTEREST, reason="watched many")],
            provenance=provenance(INTERESTS_VERSION, fallback),
            usage=INTENT_USAGE,
            fallback=fallback,
        )


class FakeTags(tags_pb2_grpc.TagsServiceServicer):
    def __init__(self, seen: Seen, fallbacks: Fallbacks) -> None:
        self.seen, self.fallbacks = seen, fallbacks

    async def PredictTags(
        self, request: tags_pb2.PredictTagsRequest, context: grpc.aio.ServicerContext
    ) -> tags_pb2.PredictTagsResponse:
        self.seen.add("PredictTags", request)
        interest = request.interests[0].interest
        fallback = request.user_id in self.fallbacks.tags
        return tags_pb2.PredictTagsResponse(
            tags=[
                common_pb2.Tag(tag="quiet drama", interest=interest, category="Drama", category_score=0.9),
                common_pb2.Tag(tag="slow drama", interest=interest, category="Drama", category_score=0.8),
            ],
            provenance=provenance(TAGS_VERSION, fallback),
            usage=TAGS_USAGE,
            fallback=fallback,
        )


class FakeRetrieval(retrieval_pb2_grpc.RetrievalServiceServicer):
    """Collaborative: served items in id order (3 at most); content: reversed; tags: by category."""

    def __init__(self, seen: Seen, index_info: retrieval_pb2.IndexInfo) -> None:
        self.seen, self.index_info = seen, index_info

    async def GetIndexInfo(
        self, request: retrieval_pb2.GetIndexInfoRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.IndexInfo:
        self.seen.add("GetIndexInfo", request)
        return self.index_info

    async def GetItems(
        self, request: retrieval_pb2.GetItemsRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.GetItemsResponse:
        self.seen.add("GetItems", request)
        return retrieval_pb2.GetItemsResponse(items=[SERVED[i] for i in request.item_ids if i in SERVED])

    async def Collaborative(
        self, request: retrieval_pb2.CollaborativeRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.CollaborativeResponse:
        self.seen.add("Collaborative", request)
        left_out = set(request.exclude_item_ids) | set(request.seed_item_ids)
        ids = [i for i in sorted(SERVED) if i not in left_out][:COLLABORATIVE_LIMIT]
        return retrieval_pb2.CollaborativeResponse(
            items=[scored(i, float(len(ids) - rank), "collaborative") for rank, i in enumerate(ids)]
        )

    async def Search(
        self, request: retrieval_pb2.SearchRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.SearchResponse:
        self.seen.add("Search", request)
        excluded = set(request.exclude_item_ids)
        if request.WhichOneof("query") == "tags":
            tag = request.tags.tags[0]
            ids = [i for i in sorted(SERVED) if GENRES[i] == tag.category and i not in excluded]
            items = [
                scored(i, 0.9 - 0.1 * rank, "tag", tag=tag.tag, interest=tag.interest)
                for rank, i in enumerate(ids)
            ]
        else:
            ids = [i for i in sorted(SERVED, reverse=True) if i not in excluded]
            items = [scored(i, float(len(ids) - rank), "content") for rank, i in enumerate(ids)]
        return retrieval_pb2.SearchResponse(items=items[: request.top_k])


class FakeExplain(explain_pb2_grpc.ExplainServiceServicer):
    """LLM texts name the user; template texts (for `fallbacks.explanations`) are the same for everyone."""

    def __init__(self, seen: Seen, fallbacks: Fallbacks) -> None:
        self.seen, self.fallbacks = seen, fallbacks

    async def Explain(
        self, request: explain_pb2.ExplainRequest, context: grpc.aio.ServicerContext
    ) -> explain_pb2.ExplainResponse:
        self.seen.add("Explain", request)
        template = request.user_id in self.fallbacks.explanations
        return explain_pb2.ExplainResponse(
            explanations=[
                explain_pb2.Explanation(
                    interest=pair.interest,
                    item_id=pair.item_id,
                    text=(
                        f"Movie {pair.item_id} matches your interest in {pair.interest}"
                        if template
                        else f"{request.user_id} would enjoy {pair.item_id} for {pair.interest}"
                    ),
                    provenance=provenance("explain-test", template),
                    fallback=template,
                )
                for pair in request.pairs
            ],
            usage=EXPLAIN_USAGE,
        )


class FakeJudge(judge_pb2_grpc.JudgeServiceServicer):
    """The first artefact passes, every other fails."""

    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    async def Judge(
        self, request: judge_pb2.JudgeRequest, context: grpc.aio.ServicerContext
    ) -> judge_pb2.JudgeResponse:
        self.seen.add("Judge", request)
        subject = request.WhichOneof("subject")
        count = {
            "interests": len(request.interests.interests),
            "tags": len(request.tags.tags),
            "explanations": len(request.explanations.explanations),
        }[subject]
        return judge_pb2.JudgeResponse(
            judgements=[
                judge_pb2.Judgement(
                    index=index, verdict=judge_pb2.VERDICT_PASS if index == 0 else judge_pb2.VERDICT_FAIL
                )
                for index in range(count)
            ],
            usage=JUDGE_USAGE,
        )


def scored(
    item_id: str, score: float, route: str, tag: str = "", interest: str = ""
) -> common_pb2.ScoredItem:
    return common_pb2.ScoredItem(item=SERVED[item_id], score=score, route=route, tag=tag, interest=interest)


@asynccontextmanager
async def fake_platform(
    fail_users: set[str] | None = None,
    intent_delay_s: float = 0.0,
    fallbacks: Fallbacks | None = None,
    index_info: retrieval_pb2.IndexInfo | None = None,
) -> AsyncIterator[tuple[str, Seen]]:
    """All five fakes on one server: yields its host:port (every service's target) and the record.

    `index_info` is what retrieval says of its index (by default nothing of its co-occurrence).
    """
    seen = Seen()
    fallbacks = fallbacks or Fallbacks()
    registrations = [
        registration(
            FakeIntent(seen, fail_users or set(), intent_delay_s, fallbacks),
            intent_pb2_grpc.add_IntentServiceServicer_to_server,
            service_names.INTENT,
        ),
        registration(
            FakeTags(seen, fallbacks), tags_pb2_grpc.add_TagsServiceServicer_to_server, service_names.TAGS
        ),
        registration(
            FakeRetrieval(seen, index_info or retrieval_pb2.IndexInfo()),
            retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server,
            service_names.RETRIEVAL,
        ),
        registration(
            FakeExplain(seen, fallbacks),
            explain_pb2_grpc.add_ExplainServiceServicer_to_server,
            service_names.EXPLAIN,
        ),
        registration(FakeJudge(seen), judge_pb2_grpc.add_JudgeServiceServicer_to_server, service_names.JUDGE),
    ]
    async with serving(*registrations, name="fake-platform") as served:
        yield served.target, seen
