"""RecGPT-V2's tag answer through the services: planner -> one expert per persona, concurrently -> arbiter.

The near-line job and the evaluation both call it. Each agent validates its own answer and counts its own
fallbacks; this chain takes the next-best path when one gives nothing: an expert that fell back drops its
persona (fewer personas), and no persona left (the planner's fallback, or every expert's) serves RecGPT-V1's
tags instead (interests, then choose mode's tags), counted by `recgpt_persona_chain_paths_total`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from recgpt.common.v1 import common_pb2
from recgpt.intent.v1 import intent_pb2, intent_pb2_grpc
from recgpt.tags.v1 import tags_pb2, tags_pb2_grpc
from recgpt_serving import metrics
from recgpt_serving.llm.usage import Usage

# Which path made the answer.
V2, FEWER_PERSONAS, V1_TAGS = "v2", "fewer_personas", "v1_tags"
PATHS = (V2, FEWER_PERSONAS, V1_TAGS)
# Cost is kept per stage: the V1 stage is the fallback path's interests and tags.
PLANNER, EXPERTS, ARBITER, V1 = "planner", "experts", "arbiter", "v1"
STAGES = (PLANNER, EXPERTS, ARBITER, V1)


@dataclass(frozen=True)
class ChainOptions:
    """Counts asked of each agent (0: the service's default) and the deadline of each call."""

    deadline_s: float
    personas: int = 0
    expert_tags: int = 0
    arbiter_tags: int = 0
    v1_max_interests: int = 0
    v1_max_tags: int = 0
    # The planner's "today" (0: the user's latest interaction's time).
    as_of_unix: int = 0
    # How the planner's and the arbiter's behaviour contexts name the items (default: the services').
    item_representation: common_pb2.ItemRepresentation = common_pb2.ITEM_REPRESENTATION_DEFAULT


@dataclass
class ChainAnswer:
    tags: list[common_pb2.Tag]
    path: str
    planned: intent_pb2.PlanPersonasResponse
    experts: list[tags_pb2.ExpertTagsResponse] = field(default_factory=list)
    arbiter: tags_pb2.ArbitrateTagsResponse | None = None
    # The V1 path's answers, when it served.
    mined: intent_pb2.MineInterestsResponse | None = None
    predicted: tags_pb2.PredictTagsResponse | None = None
    usage: dict[str, Usage] = field(default_factory=lambda: {stage: Usage() for stage in STAGES})

    @property
    def expert_fallbacks(self) -> int:
        return sum(1 for expert in self.experts if expert.fallback)

    @property
    def total_usage(self) -> Usage:
        total = Usage()
        for usage in self.usage.values():
            total.merge(usage)
        return total


async def reason(
    intent: intent_pb2_grpc.IntentServiceStub,
    tags: tags_pb2_grpc.TagsServiceStub,
    user_id: str,
    behaviour: Sequence[common_pb2.Interaction],
    options: ChainOptions,
) -> ChainAnswer:
    """Raises grpc.aio.AioRpcError when a service fails; the agents' own fallbacks are not failures."""
    planned: intent_pb2.PlanPersonasResponse = await intent.PlanPersonas(
        intent_pb2.PlanPersonasRequest(
            user_id=user_id,
            behaviour=behaviour,
            max_personas=options.personas,
            as_of_unix=options.as_of_unix,
            item_representation=options.item_representation,
        ),
        timeout=options.deadline_s,
    )
    answer = ChainAnswer([], V1_TAGS, planned)
    answer.usage[PLANNER].add(planned.usage)
    if planned.personas:
        answer.experts = list(
            await asyncio.gather(
                *(
                    tags.ExpertTags(
                        tags_pb2.ExpertTagsRequest(
                            user_id=user_id,
                            persona=persona.persona,
                            persona_categories=persona.categories,
                            behaviour=behaviour,
                            max_tags=options.expert_tags,
                        ),
                        timeout=options.deadline_s,
                    )
                    for persona in planned.personas
                )
            )
        )
        for expert in answer.experts:
            answer.usage[EXPERTS].add(expert.usage)
    proposed = [tag for expert in answer.experts if not expert.fallback for tag in expert.tags]
    if proposed:
        arbiter: tags_pb2.ArbitrateTagsResponse = await tags.ArbitrateTags(
            tags_pb2.ArbitrateTagsRequest(
                user_id=user_id,
                behaviour=behaviour,
                candidates=proposed,
                max_tags=options.arbiter_tags,
                item_representation=options.item_representation,
            ),
            timeout=options.deadline_s,
        )
        answer.arbiter = arbiter
        answer.usage[ARBITER].add(arbiter.usage)
        answer.tags = list(arbiter.tags)
        answer.path = FEWER_PERSONAS if answer.expert_fallbacks else V2
    else:
        await _v1_tags(intent, tags, user_id, behaviour, options, answer)
    metrics.PERSONA_CHAIN_PATHS.labels(answer.path).inc()
    return answer


async def _v1_tags(
    intent: intent_pb2_grpc.IntentServiceStub,
    tags: tags_pb2_grpc.TagsServiceStub,
    user_id: str,
    behaviour: Sequence[common_pb2.Interaction],
    options: ChainOptions,
    answer: ChainAnswer,
) -> None:
    """RecGPT-V1's interests and tags, as the near-line job's V1 profile makes them."""
    mined: intent_pb2.MineInterestsResponse = await intent.MineInterests(
        intent_pb2.MineInterestsRequest(
            user_id=user_id,
            method=intent_pb2.METHOD_RECGPT_V1,
            behaviour=behaviour,
            max_interests=options.v1_max_interests,
        ),
        timeout=options.deadline_s,
    )
    predicted: tags_pb2.PredictTagsResponse = await tags.PredictTags(
        tags_pb2.PredictTagsRequest(
            user_id=user_id, interests=mined.interests, behaviour=behaviour, max_tags=options.v1_max_tags
        ),
        timeout=options.deadline_s,
    )
    answer.mined, answer.predicted = mined, predicted
    answer.usage[V1].add(mined.usage)
    answer.usage[V1].add(predicted.usage)
    answer.tags = list(predicted.tags)
