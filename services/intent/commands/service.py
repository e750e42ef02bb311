"""ParseCommand: checks the request, runs the parser, merges, and answers with what each part came from."""

from __future__ import annotations

import time

import grpc
from pydantic import ValidationError

from intent.commands.llm import PROMPT_VERSION
from intent.commands.parser import CommandParser
from intent.settings import IntentSettings
from recgpt.common.v1 import common_pb2
from recgpt.intent.v1 import intent_pb2
from recgpt_domain.preferences import Preferences, merge
from recgpt_serving import agent_runner, metrics
from recgpt_serving.agent_runner import InvalidRequest


def check(settings: IntentSettings, request: intent_pb2.ParseCommandRequest) -> Preferences:
    """The preferences in force; raises InvalidRequest for a command out of bounds."""
    text = request.text.strip()
    if not text:
        raise InvalidRequest("empty command")
    if len(text) > settings.command_max_chars:
        raise InvalidRequest(f"command longer than {settings.command_max_chars} characters")
    if len(request.user_id) > settings.max_user_id_chars:
        raise InvalidRequest(f"user_id longer than {settings.max_user_id_chars} characters")
    if len(request.feed_item_ids) > settings.command_max_feed_items:
        raise InvalidRequest(f"more than {settings.command_max_feed_items} feed items")
    try:
        return Preferences.from_pb(request.current)
    except ValidationError as error:
        raise InvalidRequest(f"current preferences invalid: {error.errors()[0]['msg']}") from None


async def parse_command(
    settings: IntentSettings,
    parser: CommandParser | None,
    request: intent_pb2.ParseCommandRequest,
    context: grpc.aio.ServicerContext,
) -> intent_pb2.ParseCommandResponse:
    if parser is None:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "this intent service has no command parser")
        raise AssertionError("context.abort returned")
    current = check(settings, request)
    remaining = context.time_remaining()
    deadline = settings.command_llm_deadline_s
    if remaining is not None:
        deadline = max(
            agent_runner.MIN_LLM_DEADLINE_S, min(deadline, remaining - settings.llm_deadline_margin_s)
        )
    parsed = await parser.parse(request.text.strip(), list(request.feed_item_ids), current, deadline)
    change = parsed.change
    for part in parsed.parts:
        metrics.COMMAND_PARTS.labels(part.source, part.kind, part.resolution).inc()
    return intent_pb2.ParseCommandResponse(
        preferences=merge(current, change).to_pb(),
        added=change.added.to_pb(),
        removed=change.removed.to_pb(),
        reset=change.reset,
        parts=[
            intent_pb2.ParsedPart(
                span=part.span[:200],
                kind=part.kind,
                source=part.source,
                polarity=part.polarity,
                value=part.value,
                resolution=part.resolution,
                note=part.note,
            )
            for part in parsed.parts
        ],
        llm_status=parsed.llm_status,
        fallback=parsed.fallback,
        rules_seconds=parsed.rules_seconds,
        llm_seconds=parsed.llm_seconds,
        usage=common_pb2.LlmUsage(
            prompt_tokens=parsed.prompt_tokens,
            completion_tokens=parsed.completion_tokens,
            engine_seconds=parsed.llm_seconds,
        ),
        provenance=common_pb2.Provenance(
            model=parser.llm.settings.model if parser.llm else "",
            prompt_version=PROMPT_VERSION,
            created_at_unix=int(time.time()),
            fallback=parsed.fallback,
        ),
    )
