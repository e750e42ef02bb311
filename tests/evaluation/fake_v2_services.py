"""Fake intent and tags servicers with RecGPT-V2's RPCs, per-user scripted answers and known usage, beside the
fake retrieval and explain of `fake_services`: what `bench-v2`, the persona chain and the V2 near-line job are
checked against by hand.

User "1" (after two comedies, holds out a drama): V1 tags Drama and Horror; the planner names a comedy fan
and a drama fan, whose experts pick Comedy + Drama and Drama; the arbiter keeps Drama, then Comedy.
User "2" (after two horror films, holds out a drama): every tag answer is a fallback (Sci-Fi), and the
planner falls back, so V2 serves the V1 path. Users are namespaced by the caller ("bench:1").

The explainer writes by meta-prompting for RecGPT-V2 (its prompt version, the season in the text) and by V1's
prompt otherwise; agent-as-a-judge calls an explanation written for a persona (an interest ending in "fan")
Superior with all seven criteria passed, any other Bad for informativeness.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from explain.prompts import PROMPT_VERSION_V2
from recgpt.common.v1 import common_pb2
from recgpt.explain.v1 import explain_pb2, explain_pb2_grpc
from recgpt.intent.v1 import intent_pb2, intent_pb2_grpc
from recgpt.judge.v1 import judge_pb2, judge_pb2_grpc
from recgpt.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from recgpt.tags.v1 import tags_pb2, tags_pb2_grpc
from recgpt_domain.judge_panel import EXPLANATION_DIMENSIONS
from recgpt_serving import service_names
from tests.evaluation.fake_services import FakeRetrieval, Seen, provenance
from tests.grpc_servers import registration, serving

INTENT_USAGE = common_pb2.LlmUsage(prompt_tokens=10, completion_tokens=5, engine_seconds=0.5)
TAGS_USAGE = common_pb2.LlmUsage(prompt_tokens=20, completion_tokens=10, engine_seconds=1.0)
PLANNER_USAGE = common_pb2.LlmUsage(prompt_tokens=30, completion_tokens=6, engine_seconds=0.75)
EXPERT_USAGE = common_pb2.LlmUsage(prompt_tokens=15, completion_tokens=3, engine_seconds=0.25)
ARBITER_USAGE = common_pb2.LlmUsage(prompt_tokens=25, completion_tokens=4, engine_seconds=0.5)
EXPLAIN_V1_USAGE = common_pb2.LlmUsage(prompt_tokens=40, completion_tokens=12, engine_seconds=1.0)
EXPLAIN_V2_USAGE = common_pb2.LlmUsage(prompt_tokens=90, completion_tokens=30, engine_seconds=2.5)
PANEL_USAGE = common_pb2.LlmUsage(prompt_tokens=200, completion_tokens=16, engine_seconds=4.0)

V1_TAGS = {"1": ["Drama", "Horror"], "2": ["Sci-Fi"], "3": ["Comedy"], "4": ["Horror"]}
FALLBACK_USERS = {"2"}
# Users 3 and 4 (for the chain's own test): one expert of two falls back, and the only expert falls back.
PERSONAS = {
    "1": [("comedy fan", ["Comedy"]), ("drama fan", ["Drama"])],
    "3": [("comedy fan", ["Comedy"]), ("broken fan", ["Horror"])],
    "4": [("broken fan", ["Horror"])],
}
EXPERT_PICKS = {"comedy fan": ["Comedy", "Drama"], "drama fan": ["Drama"]}
ARBITER_PICKS = ["Drama", "Comedy"]


def _user(user_id: str) -> str:
    return user_id.rsplit(":", 1)[-1]


def _tag(category: str, interest: str) -> common_pb2.Tag:
    return common_pb2.Tag(
        tag=f"{category.lower()} films", interest=interest, category=category, category_score=1
    )


class FakeV2Intent(intent_pb2_grpc.IntentServiceServicer):
    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    async def MineInterests(
        self, request: intent_pb2.MineInterestsRequest, context: grpc.aio.ServicerContext
    ) -> intent_pb2.MineInterestsResponse:
        self.seen.add("MineInterests", request)
        return intent_pb2.MineInterestsResponse(
            interests=[common_pb2.Interest(interest="films")], provenance=provenance("i"), usage=INTENT_USAGE
        )

    async def PlanPersonas(
        self, request: intent_pb2.PlanPersonasRequest, context: grpc.aio.ServicerContext
    ) -> intent_pb2.PlanPersonasResponse:
        self.seen.add("PlanPersonas", request)
        personas = PERSONAS.get(_user(request.user_id), [])
        return intent_pb2.PlanPersonasResponse(
            personas=[intent_pb2.PlannedPersona(persona=text, categories=cats) for text, cats in personas],
            provenance=provenance("planner", fallback=not personas),
            usage=PLANNER_USAGE,
            fallback=not personas,
            fallback_reason="" if personas else "too_few_valid",
            entity_tokens=_entities(request.item_representation, len(request.behaviour)),
        )


class FakeV2Tags(tags_pb2_grpc.TagsServiceServicer):
    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    async def PredictTags(
        self, request: tags_pb2.PredictTagsRequest, context: grpc.aio.ServicerContext
    ) -> tags_pb2.PredictTagsResponse:
        self.seen.add("PredictTags", request)
        user = _user(request.user_id)
        fallback = user in FALLBACK_USERS
        return tags_pb2.PredictTagsResponse(
            tags=[_tag(category, "films") for category in V1_TAGS[user]],
            provenance=provenance("tags", fallback),
            usage=TAGS_USAGE,
            fallback=fallback,
        )

    async def ExpertTags(
        self, request: tags_pb2.ExpertTagsRequest, context: grpc.aio.ServicerContext
    ) -> tags_pb2.ExpertTagsResponse:
        self.seen.add("ExpertTags", request)
        picks = EXPERT_PICKS.get(request.persona, [])
        return tags_pb2.ExpertTagsResponse(
            tags=[_tag(category, request.persona) for category in picks],
            provenance=provenance("expert", fallback=not picks),
            usage=EXPERT_USAGE,
            pool=picks,
            fallback=not picks,
            fallback_reason="" if picks else "too_few_valid",
        )

    async def ArbitrateTags(
        self, request: tags_pb2.ArbitrateTagsRequest, context: grpc.aio.ServicerContext
    ) -> tags_pb2.ArbitrateTagsResponse:
        self.seen.add("ArbitrateTags", request)
        persona_of: dict[str, str] = {}
        for tag in request.candidates:
            persona_of.setdefault(tag.category, tag.interest)
        return tags_pb2.ArbitrateTagsResponse(
            tags=[_tag(category, persona_of[category]) for category in ARBITER_PICKS],
            provenance=provenance("arbiter"),
            usage=ARBITER_USAGE,
            duplicates=len(request.candidates) - len(persona_of),
            distinct=len(persona_of),
            entity_tokens=_entities(request.item_representation, len(request.behaviour)),
        )


class FakeV2Explain(explain_pb2_grpc.ExplainServiceServicer):
    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    async def Explain(
        self, request: explain_pb2.ExplainRequest, context: grpc.aio.ServicerContext
    ) -> explain_pb2.ExplainResponse:
        self.seen.add("Explain", request)
        v2 = request.method == explain_pb2.METHOD_RECGPT_V2
        season = request.situation.get("season", "")
        return explain_pb2.ExplainResponse(
            explanations=[
                explain_pb2.Explanation(
                    interest=pair.interest,
                    item_id=pair.item_id,
                    text=f"{request.user_id} would enjoy {pair.item_id} for {pair.interest}"
                    + (f" this {season}" if v2 else ""),
                    style="vivid" if v2 else "",
                    provenance=provenance(PROMPT_VERSION_V2 if v2 else "explain-test"),
                )
                for pair in request.pairs
            ],
            usage=EXPLAIN_V2_USAGE if v2 else EXPLAIN_V1_USAGE,
        )


class FakePanelJudge(judge_pb2_grpc.JudgeServiceServicer):
    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    async def Judge(
        self, request: judge_pb2.JudgeRequest, context: grpc.aio.ServicerContext
    ) -> judge_pb2.JudgeResponse:
        self.seen.add("Judge", request)
        judgements = []
        for index, subject in enumerate(request.explanations.explanations):
            good = subject.interest.endswith("fan")
            judgements.append(
                judge_pb2.Judgement(
                    index=index,
                    verdict=judge_pb2.VERDICT_SUPERIOR if good else judge_pb2.VERDICT_BAD,
                    dimensions=[
                        judge_pb2.DimensionScore(dimension=d, passed=good or d != "informativeness")
                        for d in EXPLANATION_DIMENSIONS
                    ],
                )
            )
        return judge_pb2.JudgeResponse(judgements=judgements, usage=PANEL_USAGE)


def _entities(representation: int, items: int) -> int:
    """As the services answer: every item by its entity token when asked for them."""
    return items if representation == common_pb2.ITEM_REPRESENTATION_ENTITY else 0


@asynccontextmanager
async def fake_v2_platform(
    index_info: retrieval_pb2.IndexInfo | None = None,
) -> AsyncIterator[tuple[str, Seen]]:
    """Intent, tags, retrieval, explain and judge fakes on one server: yields its host:port and the record
    of requests."""
    seen = Seen()
    registrations = [
        registration(
            FakeV2Intent(seen), intent_pb2_grpc.add_IntentServiceServicer_to_server, service_names.INTENT
        ),
        registration(FakeV2Tags(seen), tags_pb2_grpc.add_TagsServiceServicer_to_server, service_names.TAGS),
        registration(
            FakeRetrieval(seen, index_info or retrieval_pb2.IndexInfo()),
            retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server,
            service_names.RETRIEVAL,
        ),
        registration(
            FakeV2Explain(seen), explain_pb2_grpc.add_ExplainServiceServicer_to_server, service_names.EXPLAIN
        ),
        registration(
            FakePanelJudge(seen), judge_pb2_grpc.add_JudgeServiceServicer_to_server, service_names.JUDGE
        ),
    ]
    async with serving(*registrations, name="fake-v2-platform") as served:
        yield served.target, seen
