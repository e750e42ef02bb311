"""The gRPC face of interest mining (RecGPT-V1): checks the request, compresses behaviour, asks the LLM.
RecGPT-V2's planner (PlanPersonas) lives in `intent.planner`, RecBot's parser in `intent.commands`."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc

from intent import fallback, prompts
from intent.commands.parser import CommandParser
from intent.commands.service import parse_command
from intent.planner import Planner
from intent.prompts import AGENT
from intent.schema import answer_schema
from intent.settings import IntentSettings
from intent.validation import clean_interests
from recgpt.common.v1 import common_pb2
from recgpt.intent.v1 import intent_pb2, intent_pb2_grpc
from recgpt_domain.behaviour_context import BehaviourContext, compress
from recgpt_serving import agent_runner
from recgpt_serving.llm.errors import LlmError
from recgpt_serving.llm.usage import spent_usage

log = logging.getLogger(__name__)


@dataclass
class _Mined:
    interests: list[common_pb2.Interest]
    usage: common_pb2.LlmUsage
    fallback: bool


class IntentServicer(agent_runner.AgentServicer[IntentSettings], intent_pb2_grpc.IntentServiceServicer):
    def __init__(
        self,
        settings: IntentSettings,
        deps: agent_runner.AgentDeps,
        *,
        parser: CommandParser | None = None,
        planner: Planner | None = None,
    ) -> None:
        super().__init__(settings, deps)
        # RecBot's parser; built from the catalogue by `main.build` (None: ParseCommand is unimplemented).
        self.parser = parser
        # RecGPT-V2's planner; built from the catalogue's histories (None: PlanPersonas is unimplemented).
        self.planner = planner

    async def PlanPersonas(
        self, request: intent_pb2.PlanPersonasRequest, context: grpc.aio.ServicerContext
    ) -> intent_pb2.PlanPersonasResponse:
        if self.planner is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "this intent service has no persona planner")
        assert self.planner is not None
        return await self.planner.plan(request, context)

    async def MineInterests(
        self, request: intent_pb2.MineInterestsRequest, context: grpc.aio.ServicerContext
    ) -> intent_pb2.MineInterestsResponse:
        if request.method == intent_pb2.METHOD_RECGPT_V2:
            await context.abort(
                grpc.StatusCode.UNIMPLEMENTED,
                "RecGPT-V2 plans through PlanPersonas, then the tags service's ExpertTags and ArbitrateTags",
            )
        async with agent_runner.refusals_as_status(context, "behaviour store"):
            limit = self._check(request)
            interactions = await agent_runner.read_behaviour(
                self.deps, request.user_id, request.behaviour, self.settings.behaviour_max_interactions
            )
        behaviour = compress(interactions, self.deps.items, self.settings.behaviour_budget_tokens)
        adapter = await self.deps.llm.adapter_for(AGENT, prompts.PROMPT_VERSION)
        mined = await self._mine(behaviour, limit, adapter, context)
        return intent_pb2.MineInterestsResponse(
            interests=mined.interests,
            provenance=agent_runner.provenance(
                self.deps.llm.settings, prompts.PROMPT_VERSION, fallback=mined.fallback, adapter=adapter
            ),
            usage=mined.usage,
            fallback=mined.fallback,
        )

    def _check(self, request: intent_pb2.MineInterestsRequest) -> int:
        """The number of interests to ask for; raises InvalidRequest for a request out of bounds."""
        if len(request.user_id) > self.settings.max_user_id_chars:
            raise agent_runner.InvalidRequest(
                f"user_id longer than {self.settings.max_user_id_chars} characters"
            )
        if len(request.behaviour) > self.settings.max_behaviour_entries:
            raise agent_runner.InvalidRequest(
                f"too many behaviour entries: {len(request.behaviour)}, "
                f"at most {self.settings.max_behaviour_entries}"
            )
        if request.max_interests < 0:
            raise agent_runner.InvalidRequest(
                f"max_interests must be >= 0 (0 = default), got {request.max_interests}"
            )
        if request.max_interests == 0:
            return min(self.settings.max_interests, self.settings.max_interests_limit)
        return min(request.max_interests, self.settings.max_interests_limit)

    async def _mine(
        self, behaviour: BehaviourContext, limit: int, adapter: str, context: grpc.aio.ServicerContext
    ) -> _Mined:
        if behaviour.items_total == 0:
            # Nothing to read: a valid, empty answer, without spending an LLM call.
            agent_runner.count_fallback(AGENT, agent_runner.FallbackReason.NO_BEHAVIOUR)
            return _Mined([], common_pb2.LlmUsage(), fallback=True)
        try:
            result = await self.deps.llm.structured(
                AGENT,
                prompts.messages(behaviour.text, limit),
                answer_schema(limit),
                deadline_s=agent_runner.llm_deadline(context, self.settings),
                max_tokens=self.settings.interest_max_tokens,
                temperature=self.settings.interest_temperature,
                adapter=adapter,
            )
        except LlmError as error:
            reason = agent_runner.fallback_reason(error)
            log.warning("interest mining fell back", extra={"reason": reason, "error": str(error)})
            agent_runner.count_fallback(AGENT, reason)
            interests = fallback.frequent_category_interests(behaviour, limit)
            return _Mined(interests, spent_usage(error), fallback=True)
        usage = common_pb2.LlmUsage(
            prompt_tokens=result.usage.prompt_tokens,
            completion_tokens=result.usage.completion_tokens,
            engine_seconds=result.latency_s,
        )
        interests = clean_interests(result.value.interests, limit)
        if not interests:
            agent_runner.count_fallback(AGENT, agent_runner.FallbackReason.TOO_FEW_VALID)
            return _Mined(fallback.frequent_category_interests(behaviour, limit), usage, fallback=True)
        return _Mined(interests, usage, fallback=False)

    async def ParseCommand(
        self, request: intent_pb2.ParseCommandRequest, context: grpc.aio.ServicerContext
    ) -> intent_pb2.ParseCommandResponse:
        async with agent_runner.refusals_as_status(context, "preferences"):
            return await parse_command(self.settings, self.parser, request, context)
        raise AssertionError("refusals_as_status returned")
