"""The three ways `make bench-v2` asks the running platform for a user's tags, each as one `VariantRun`.

- V1 single call: the interest agent, then one tag call (the tag service's mode: choose by default).
- V1 multi-route: the interests once, then `routes` tag calls, each re-reading the whole compressed behaviour
  with its share of the interests, as RecGPT-V1's separate routes did in production; the routes' tags are
  merged in turn, each category once (duplicates across routes counted).
- V2 (text): the planner reads the behaviour once, one expert per persona, then the arbiter
  (`recgpt_serving.persona_chain`).
Every call carries the user's held-out history, so no service reads a log of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from evaluation.bench_v2_figures import VariantRun
from recgpt.common.v1 import common_pb2
from recgpt.intent.v1 import intent_pb2, intent_pb2_grpc
from recgpt.tags.v1 import tags_pb2, tags_pb2_grpc
from recgpt_domain.persona_tags import union_of
from recgpt_serving import persona_chain
from recgpt_serving.llm.usage import Usage

V1_SINGLE, V1_MULTIROUTE, V2_TEXT, V2_ENTITY = "v1_single", "v1_multiroute", "v2_text", "v2_entity"
VARIANTS = (V1_SINGLE, V1_MULTIROUTE, V2_TEXT, V2_ENTITY)
# The agents whose fallbacks each variant reports (their metric names).
INTEREST_MINER, TAG_PREDICTOR = "interest_miner", "tag_predictor"
PLANNER, EXPERT, ARBITER = "persona_planner", "tag_expert", "tag_arbiter"


@dataclass(frozen=True)
class BenchOptions:
    deadline_s: float
    routes: int = 3
    personas: int = 3
    expert_tags: int = 0
    arbiter_tags: int = 0
    max_interests: int = 0
    max_tags: int = 0


def _usage(*replies: common_pb2.LlmUsage) -> Usage:
    usage = Usage()
    for reply in replies:
        usage.add(reply)
    return usage


def _categories(tags: Sequence[common_pb2.Tag]) -> list[str]:
    return list(dict.fromkeys(tag.category for tag in tags if tag.category))


def _tag_interests(tags: Sequence[common_pb2.Tag]) -> dict[str, str]:
    """Category -> the interest of its first tag that names one."""
    found: dict[str, str] = {}
    for tag in tags:
        if tag.category and tag.interest.strip() and tag.category not in found:
            found[tag.category] = " ".join(tag.interest.split())
    return found


class Variants:
    def __init__(
        self,
        intent: intent_pb2_grpc.IntentServiceStub,
        tags: tags_pb2_grpc.TagsServiceStub,
        options: BenchOptions,
    ) -> None:
        self.intent = intent
        self.tags = tags
        self.options = options

    async def run(
        self, variant: str, user_id: str, behaviour: Sequence[common_pb2.Interaction]
    ) -> VariantRun:
        """Raises grpc.aio.AioRpcError when a service fails (the user is then left out of the variant)."""
        if variant == V1_SINGLE:
            return await self.v1_single(user_id, behaviour)
        if variant == V1_MULTIROUTE:
            return await self.v1_multiroute(user_id, behaviour)
        if variant == V2_TEXT:
            return await self.v2(user_id, behaviour, common_pb2.ITEM_REPRESENTATION_TEXT)
        if variant == V2_ENTITY:
            return await self.v2(user_id, behaviour, common_pb2.ITEM_REPRESENTATION_ENTITY)
        raise ValueError(f"unknown variant {variant!r}")

    async def _interests(
        self, user_id: str, behaviour: Sequence[common_pb2.Interaction]
    ) -> intent_pb2.MineInterestsResponse:
        reply: intent_pb2.MineInterestsResponse = await self.intent.MineInterests(
            intent_pb2.MineInterestsRequest(
                user_id=user_id,
                method=intent_pb2.METHOD_RECGPT_V1,
                behaviour=behaviour,
                max_interests=self.options.max_interests,
            ),
            timeout=self.options.deadline_s,
        )
        return reply

    async def _tags(
        self,
        user_id: str,
        interests: Sequence[common_pb2.Interest],
        behaviour: Sequence[common_pb2.Interaction],
    ) -> tags_pb2.PredictTagsResponse:
        reply: tags_pb2.PredictTagsResponse = await self.tags.PredictTags(
            tags_pb2.PredictTagsRequest(
                user_id=user_id, interests=interests, behaviour=behaviour, max_tags=self.options.max_tags
            ),
            timeout=self.options.deadline_s,
        )
        return reply

    async def v1_single(self, user_id: str, behaviour: Sequence[common_pb2.Interaction]) -> VariantRun:
        mined = await self._interests(user_id, behaviour)
        predicted = await self._tags(user_id, mined.interests, behaviour)
        return VariantRun(
            categories=_categories(predicted.tags),
            llm=not predicted.fallback,
            interests=_tag_interests(predicted.tags),
            stages={"interests": _usage(mined.usage), "tags": _usage(predicted.usage)},
            calls={INTEREST_MINER: (1, int(mined.fallback)), TAG_PREDICTOR: (1, int(predicted.fallback))},
        )

    async def v1_multiroute(self, user_id: str, behaviour: Sequence[common_pb2.Interaction]) -> VariantRun:
        mined = await self._interests(user_id, behaviour)
        routes = self.options.routes
        interests = list(mined.interests)
        # Each route its share of the interests; every route all of them when there are fewer than routes.
        shares = (
            [interests[i::routes] for i in range(routes)]
            if len(interests) >= routes
            else [interests] * routes
        )
        predicted = await asyncio.gather(*(self._tags(user_id, share, behaviour) for share in shares))
        answered = [reply for reply in predicted if not reply.fallback]
        merged = union_of([(str(n), _categories(reply.tags)) for n, reply in enumerate(answered)])
        categories = merged.categories if answered else _categories(predicted[0].tags)
        return VariantRun(
            categories=categories,
            llm=bool(answered),
            interests=_tag_interests([tag for reply in (answered or predicted[:1]) for tag in reply.tags]),
            stages={
                "interests": _usage(mined.usage),
                "routes": _usage(*(reply.usage for reply in predicted)),
            },
            calls={
                INTEREST_MINER: (1, int(mined.fallback)),
                TAG_PREDICTOR: (routes, sum(1 for reply in predicted if reply.fallback)),
            },
            picks=merged.picks,
            duplicates=merged.duplicates,
        )

    async def v2(
        self,
        user_id: str,
        behaviour: Sequence[common_pb2.Interaction],
        representation: common_pb2.ItemRepresentation,
    ) -> VariantRun:
        """Planner -> experts -> arbiter, their contexts naming items by text or by entity tokens."""
        answer = await persona_chain.reason(
            self.intent,
            self.tags,
            user_id,
            behaviour,
            persona_chain.ChainOptions(
                deadline_s=self.options.deadline_s,
                personas=self.options.personas,
                expert_tags=self.options.expert_tags,
                arbiter_tags=self.options.arbiter_tags,
                v1_max_interests=self.options.max_interests,
                v1_max_tags=self.options.max_tags,
                item_representation=representation,
            ),
        )
        calls = {PLANNER: (1, int(answer.planned.fallback))}
        if answer.experts:
            calls[EXPERT] = (len(answer.experts), answer.expert_fallbacks)
        if answer.arbiter is not None:
            calls[ARBITER] = (1, int(answer.arbiter.fallback))
        if answer.mined is not None and answer.predicted is not None:
            calls[INTEREST_MINER] = (1, int(answer.mined.fallback))
            calls[TAG_PREDICTOR] = (1, int(answer.predicted.fallback))
        arbiter = answer.arbiter
        return VariantRun(
            categories=_categories(answer.tags),
            llm=answer.path != persona_chain.V1_TAGS,
            interests=_tag_interests(answer.tags),
            stages={
                stage: usage
                for stage, usage in answer.usage.items()
                if usage.prompt_tokens or usage.engine_seconds
            },
            calls=calls,
            picks=(arbiter.duplicates + arbiter.distinct) if arbiter is not None else 0,
            duplicates=arbiter.duplicates if arbiter is not None else 0,
            path=answer.path,
            personas_kept=len(answer.planned.personas),
            personas_dropped=answer.planned.dropped_personas,
            entity_tokens=answer.planned.entity_tokens
            + (arbiter.entity_tokens if arbiter is not None else 0),
            entity_prompts=int(answer.planned.entity_tokens > 0)
            + int(arbiter is not None and arbiter.entity_tokens > 0),
        )
