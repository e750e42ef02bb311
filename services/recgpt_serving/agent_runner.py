"""How every LLM agent service (intent, tags, explain, judge) is put together and run.

Each one needs the same things: its settings, the LLM client, the behaviour store, the catalogue's items
in memory, a gRPC server with health and metrics, and a clean shutdown. A service module only supplies a
`build` function that turns those into its servicer (an `AgentServicer`). What every agent does alike on each
call lives here too: the LLM deadline cut to the caller's, the closed set of fallback reasons, and the
provenance.

Every agent service has the same files: settings.py (its settings class, extending AgentServiceSettings),
prompts.py (its name in metrics, prompt version and messages), schema.py (the answer's JSON schema),
validation.py (checks of the untrusted answer), fallback.py (the non-LLM answer), servicer.py (the gRPC
face) and main.py (the `build` function and the entry point).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar

import grpc
import redis.asyncio as aioredis
from pydantic import Field, ValidationError
from redis.exceptions import RedisError

from recgpt.common.v1 import common_pb2
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.catalogue import Interaction, Item, read_items
from recgpt_domain.messages import interactions_from_pb
from recgpt_domain.redis_connection import connect
from recgpt_serving import logs, metrics
from recgpt_serving.grpc_server import GrpcService
from recgpt_serving.llm import entity_tokens
from recgpt_serving.llm.client import LlmClient, LlmSettings
from recgpt_serving.llm.entity_tokens import EntityTokens
from recgpt_serving.llm.errors import LlmError, LlmOutputError
from recgpt_serving.settings import GrpcServiceSettings

log = logging.getLogger(__name__)


class AgentServiceSettings(GrpcServiceSettings):
    """What every agent service reads from `RECGPT_*`; services extend it with their own knobs."""

    catalogue_dir: Path
    # Deadline of one LLM call; the caller's gRPC deadline still bounds the whole request.
    llm_deadline_s: float = Field(default=60.0, gt=0)
    # Time kept back from the caller's deadline for the work after the LLM call (checks, the answer).
    llm_deadline_margin_s: float = Field(default=0.2, ge=0)
    # Tokens of compressed behaviour an agent reads at most (see recgpt_domain.behaviour_context).
    behaviour_budget_tokens: int = Field(default=1200, ge=64)
    # The most recent interactions read from Redis when a request brings no behaviour.
    behaviour_max_interactions: int = Field(default=200, ge=1)
    # Entity tokens (`recgpt_serving.llm.entity_tokens`): the folder `make train-adaptor` writes, and
    # whether a request that names no representation gets them (off: measured no better than text yet).
    entity_dir: Path | None = None
    entity_tokens: bool = False

    def longest_call_s(self) -> float:
        """One LLM call and the work after it. A batch caller with a longer deadline whose request makes
        several calls may be cut off by a rollout; the near-line queue takes such a user again."""
        return self.llm_deadline_s + self.llm_deadline_margin_s


# An LLM call is never given less than this: a request that comes late still gets its fallback at once.
MIN_LLM_DEADLINE_S = 0.05


def llm_deadline(context: grpc.aio.ServicerContext, settings: AgentServiceSettings) -> float:
    """The next LLM call's deadline: the configured one, cut to what the caller has left minus the margin.

    Read it right before the call (after waiting for a slot), so that time spent queueing counts too.
    """
    remaining = context.time_remaining()
    if remaining is None:
        return settings.llm_deadline_s
    fitted = float(remaining) - settings.llm_deadline_margin_s
    return max(MIN_LLM_DEADLINE_S, min(settings.llm_deadline_s, fitted))


class FallbackReason(StrEnum):
    """Why an agent answered without the LLM; the `reason` label of recgpt_agent_fallbacks_total."""

    # Nothing to ask the LLM about.
    NO_BEHAVIOUR = "no_behaviour"
    NO_INTERESTS = "no_interests"
    EMPTY_SUBJECT = "empty_subject"
    # The call failed (`LlmError.outcome`).
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    REJECTED = "rejected"
    ERROR = "error"
    # The answer did not validate (`LlmOutputError.reason`).
    EMPTY = "empty"
    TRUNCATED = "truncated"
    INVALID_JSON = "invalid_json"
    SCHEMA_MISMATCH = "schema_mismatch"
    MALFORMED_RESPONSE = "malformed_response"
    # It validated, but the agent's own checks left nothing usable.
    TOO_FEW_VALID = "too_few_valid"
    UNGROUNDED = "ungrounded"


def fallback_reason(error: LlmError) -> FallbackReason:
    """The reason of a failed LLM call: the invalid output's reason, else the call's outcome."""
    label = error.reason if isinstance(error, LlmOutputError) else error.outcome
    try:
        return FallbackReason(label)
    except ValueError:  # a new error kind must not grow the label set
        return FallbackReason.ERROR


def count_fallback(agent: str, reason: FallbackReason) -> None:
    metrics.AGENT_FALLBACKS.labels(agent, reason.value).inc()


def provenance(
    llm: LlmSettings, prompt_version: str, *, fallback: bool, adapter: str | None = None
) -> common_pb2.Provenance:
    """What made an artefact now: the model and adapter asked for (even when a fallback answered).

    `adapter` is the one the call chose (`LlmClient.adapter_for`: an arm's override, the agent's setting,
    the newest, with its version), else the statically configured one. Our names, not the one a worker
    reports: vLLM reports a LoRA adapter as the model.
    """
    return common_pb2.Provenance(
        model=llm.model,
        adapter=llm.adapter if adapter is None else adapter,
        prompt_version=prompt_version,
        created_at_unix=int(time.time()),
        fallback=fallback,
    )


class InvalidRequest(ValueError):
    """A request an agent service refuses; answered INVALID_ARGUMENT with this message."""


@asynccontextmanager
async def refusals_as_status(context: grpc.aio.ServicerContext, store: str) -> AsyncIterator[None]:
    """Bad input answers INVALID_ARGUMENT, a Redis failure UNAVAILABLE naming `store`; both with a reason."""
    try:
        yield
    except InvalidRequest as error:
        log.info("request refused", extra={"reason": str(error)})
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
    except RedisError as error:
        log.warning(f"{store} unavailable", extra={"error": str(error)})
        await context.abort(grpc.StatusCode.UNAVAILABLE, f"{store} unavailable: {error}")


@dataclass
class AgentDeps:
    """What a servicer is built from; tests build their own with a fake LLM."""

    llm: LlmClient
    store: BehaviourStore
    items: Mapping[str, Item]
    # The caches' Redis (explanations); None: the behaviour store's Redis holds them.
    cache_client: aioredis.Redis | None = None
    # Items' entity tokens for the agents that read a behaviour context; None: items go by their text.
    entities: EntityTokens | None = None

    @property
    def caches(self) -> aioredis.Redis:
        return self.cache_client or self.store.client


@dataclass(frozen=True)
class Registration:
    servicer: Any
    # The generated `add_<Service>Servicer_to_server` function.
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    full_service_name: str


S = TypeVar("S", bound=AgentServiceSettings)


class AgentServicer(Generic[S]):
    """What every agent servicer starts from; its constructor is `(settings, deps, <its own parts>..., *,
    <optional parts>)`.

    A servicer extends it and its generated base, `class FooServicer(AgentServicer[FooSettings],
    foo_pb2_grpc.FooServiceServicer)`, and reaches what every agent does alike on a call (fallback reasons,
    refusals, deadlines, provenance) through this module's namespace, `agent_runner.<name>`; its main.py
    registers it under the name in `recgpt_serving.service_names`.
    """

    def __init__(self, settings: S, deps: AgentDeps) -> None:
        self.settings = settings
        self.deps = deps


def load_items(catalogue_dir: Path) -> dict[str, Item]:
    return {item.item_id: item for item in read_items(catalogue_dir)}


async def serve(
    name: str,
    settings: S,
    llm_settings: LlmSettings,
    build: Callable[[S, AgentDeps], Registration],
) -> None:
    """Builds the servicer (catalogue, models), then serves until SIGTERM; health is SERVING only between."""
    items = await asyncio.to_thread(load_items, settings.catalogue_dir)
    redis_client: aioredis.Redis = connect(settings.redis_url)
    cache_client = connect(settings.cache_redis_url) if settings.cache_redis_url else None
    llm = LlmClient(llm_settings)
    try:
        store = BehaviourStore(redis_client, settings.redis_prefix)
        entities = await asyncio.to_thread(
            entity_tokens.load, settings.entity_dir, items.keys(), llm_settings.model
        )
        deps = AgentDeps(llm=llm, store=store, items=items, cache_client=cache_client, entities=entities)
        registration = await asyncio.to_thread(build, settings, deps)
        service = GrpcService(
            name,
            [registration.full_service_name],
            max_concurrent_rpcs=settings.max_concurrent_rpcs,
            max_connection_age_s=settings.max_connection_age_s,
            connection_age_grace_s=settings.stop_grace_s,
        )
        registration.add_to_server(registration.servicer, service.server)
        service.bind(settings.bind_host, settings.port)
        await service.start()
        await service.mark_serving()
        log.info("agent service ready", extra={"items": len(items), "llm": llm_settings.endpoints})
        await service.run_until_signalled(settings.stop_grace_s, settings.drain_s)
    finally:
        await llm.aclose()
        await redis_client.aclose()
        if cache_client is not None:
            await cache_client.aclose()


def main(name: str, settings_type: type[S], build: Callable[[S, AgentDeps], Registration]) -> None:
    """The console-script entry point of an agent service."""
    try:
        settings = settings_type()
        llm_settings = LlmSettings()
    except ValidationError as error:
        sys.exit(f"recgpt-{name}: bad or missing settings (RECGPT_*, REDIS_URL):\n{error}")
    logs.configure(name, settings.log_level)
    metrics.serve(settings.metrics_port, settings.bind_host)
    try:
        asyncio.run(serve(name, settings, llm_settings, build))
    except Exception:
        log.exception("%s service failed", name)
        raise SystemExit(1) from None


async def read_behaviour(
    deps: AgentDeps, user_id: str, given: Sequence[common_pb2.Interaction], limit: int
) -> list[Interaction]:
    """The behaviour a request brings, else the user's `limit` most recent interactions; oldest first."""
    if given:
        return interactions_from_pb(given)[-limit:]
    if not user_id:
        return []
    return list(reversed(await deps.store.recent(user_id, limit)))
