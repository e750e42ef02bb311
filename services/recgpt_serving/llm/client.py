"""The one async client of the platform's LLM workers (vLLM's OpenAI-compatible chat API).

Every call has a deadline that covers all of it, retry included. A call is retried once, on another
worker, only when no response had started (connection refused, dropped before any byte, or a 5xx):
once a worker answers, its answer is final. Structured calls ask vLLM to constrain the output by JSON
schema and validate it again into the pydantic model; anything invalid is counted and raised as
`LlmOutputError`, so the caller falls back.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from recgpt_serving import context, metrics
from recgpt_serving.llm.adapters import AdapterConfig, AdapterSelector
from recgpt_serving.llm.engines import AgentEngine, EngineRoutes, parse_agent_engines
from recgpt_serving.llm.errors import (
    LlmError,
    LlmOutputError,
    LlmRequestError,
    LlmTimeoutError,
    LlmUnavailableError,
)
from recgpt_serving.llm.models import DEFAULT_MODEL_NAME

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
V = TypeVar("V")

Message = dict[str, Any]

# The header naming the user a request is for.
USER_ID_HEADER = "X-User-Id"
# How much of an error body to quote in an exception: enough to see vLLM's message.
_DETAIL_CHARS = 300


class LlmSettings(BaseSettings):
    """Read from `RECGPT_LLM_*`; `RECGPT_LLM_ENDPOINTS` is a comma-separated list of `.../v1` URLs."""

    model_config = SettingsConfigDict(
        env_prefix="RECGPT_LLM_", extra="ignore", frozen=True, protected_namespaces=()
    )

    endpoints: Annotated[list[str], NoDecode] = Field(min_length=1)
    model: str = DEFAULT_MODEL_NAME
    # The engine's API key (vLLM's --api-key / VLLM_API_KEY), sent as `Authorization: Bearer` on every call;
    # empty: none (the local stack's engine listens on 127.0.0.1 only).
    api_key: SecretStr = SecretStr("")
    # A LoRA adapter vLLM already serves on top of `model` (its `--lora-modules` name); empty for the base
    # model. vLLM picks the adapter by the request's model name, so requests then name the adapter.
    # Used only without `adapters_dir`.
    adapter: str = ""
    # The trained adapters (`<dir>/<agent>/<version>/`, see recgpt_serving.llm.adapter_files); when set, each
    # agent's adapter is chosen from it and loaded into the workers on first use.
    adapters_dir: Path | None = None
    # The choice for every agent: "newest" (the base model when the agent has none), "base" or a version.
    adapter_choice: str = "newest"
    # Per-agent choices, "tag_predictor=v3,judge=base"; an experiment arm's request override wins over both.
    agent_adapters: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    # The served base model's folder: adapters' weight shapes are checked against its config.json.
    base_model_dir: Path | None = None
    # Per-agent scheduling priorities, "explainer=1,judge=2" (vLLM: lower is served first, 0 for agents not
    # named). Only for engines started with `--scheduling-policy priority` (`make run`'s): any other refuses
    # a request with a priority but 0.
    agent_priorities: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)
    # Agents served by an engine of their own, "tag_expert=<model>@http://127.0.0.1:8101/v1": the agent's
    # adapter merged into the base weights, served as <model> without LoRA (recgpt_serving.llm.engines).
    # The agent's calls go there and name that model; an experiment arm's adapter override for the agent
    # is served by the shared engine with LoRA, as for any other agent.
    agent_engines: Annotated[dict[str, AgentEngine], NoDecode] = Field(default_factory=dict)
    # The largest LoRA rank the workers serve (vLLM's --max-lora-rank).
    max_lora_rank: int = Field(default=64, ge=1)
    # vLLM 0.32's CPU engine dies on a request with prompt logprobs while it serves LoRA (its CPU LoRA
    # logits kernel gets one index per sequence, not per prompt token: "einsum(): subscript b has size 3
    # ... size 773"), the base model's requests too. Where this client serves adapters it refuses such
    # requests (text_logprob) unless told the engine copes; set this for a build that does.
    prompt_logprobs_with_lora: bool = False
    deadline_s: float = Field(default=30.0, gt=0)
    max_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=0.2, ge=0)
    # A worker that takes longer than this to accept a connection counts as down (and is failed over).
    connect_timeout_s: float = Field(default=1.0, gt=0)
    max_connections: int = Field(default=64, ge=1)
    # Debug/benchmark aid, off by default: every request body sent is appended to
    # `<record_dir>/<agent>.jsonl`, so `nearline.replay` can measure the engine alone on the same prompts.
    record_dir: Path | None = None

    @field_validator("endpoints", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list):
            return [str(url).strip().rstrip("/") for url in value if str(url).strip()]
        return value

    @field_validator("agent_adapters", mode="before")
    @classmethod
    def _pairs(cls, value: object) -> object:
        if isinstance(value, str):
            return context.parse_adapter_choices(value)
        return value

    @field_validator("agent_priorities", mode="before")
    @classmethod
    def _priorities(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        priorities: dict[str, int] = {}
        for pair in filter(None, (part.strip() for part in value.split(","))):
            agent, _, number = pair.partition("=")
            try:
                priorities[agent.strip()] = int(number)
            except ValueError:
                raise ValueError(f"agent priority {pair!r} is not agent=integer") from None
        return priorities

    @field_validator("agent_engines", mode="before")
    @classmethod
    def _engines(cls, value: object) -> object:
        return parse_agent_engines(value) if isinstance(value, str) else value

    def adapter_config(self) -> AdapterConfig:
        return AdapterConfig(
            served_model=self.model,
            static_adapter=self.adapter,
            adapters_dir=self.adapters_dir,
            default_choice=self.adapter_choice,
            agent_choices=self.agent_adapters,
            base_model_dir=self.base_model_dir,
            max_rank=self.max_lora_rank,
        )


@dataclass(frozen=True)
class LlmUsage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class LlmResult(Generic[V]):
    """A validated answer and what it cost; `worker` is the endpoint that produced it."""

    value: V
    usage: LlmUsage
    latency_s: float
    worker: str
    model: str
    attempts: int
    # The LoRA adapter that answered (its served name, version included); "" for the base model.
    adapter: str = ""


@dataclass(frozen=True)
class _Completion:
    content: str | None
    finish_reason: str | None
    usage: LlmUsage
    model: str
    worker: str
    attempts: int
    # The first generated token's alternatives, when the request asked for logprobs.
    top_logprobs: dict[str, float] | None = None


class _NotStarted(Exception):
    """A worker failed before any byte of a response: safe to send the request elsewhere."""


def _auth_headers(api_key: SecretStr) -> dict[str, str]:
    key = api_key.get_secret_value()
    return {"Authorization": f"Bearer {key}"} if key else {}


def response_format(schema: type[BaseModel]) -> dict[str, Any]:
    """The OpenAI `response_format` that makes vLLM constrain decoding to `schema`."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": schema.__name__[:64],
            "schema": schema.model_json_schema(),
            "strict": True,
        },
    }


def parse_structured(content: str | None, finish_reason: str | None, schema: type[T]) -> T:
    """Validates an answer into `schema`, naming the reason when it is not valid."""
    if content is None or not content.strip():
        raise LlmOutputError("empty", "the answer has no content")
    try:
        data = json.loads(content)
    except ValueError as error:
        reason = "truncated" if finish_reason == "length" else "invalid_json"
        raise LlmOutputError(reason, f"{error}: {content[:_DETAIL_CHARS]!r}") from error
    try:
        return schema.model_validate(data)
    except ValidationError as error:
        raise LlmOutputError("schema_mismatch", str(error)[:_DETAIL_CHARS]) from error


class LlmClient:
    """Async client over a pool of vLLM workers; one per process, closed with `aclose()`."""

    def __init__(self, settings: LlmSettings) -> None:
        self.settings = settings
        self._http = httpx.AsyncClient(
            # Deadlines are enforced per call (asyncio.timeout); only connecting has its own limit.
            timeout=httpx.Timeout(None, connect=settings.connect_timeout_s),
            limits=httpx.Limits(max_connections=settings.max_connections),
            # Workers are internal: never route them through a proxy from the environment.
            trust_env=False,
            # On the client, so that every call to the engine carries it: completions, logprobs, adapters.
            headers=_auth_headers(settings.api_key),
        )
        self._turn = itertools.count()
        self.adapters = AdapterSelector(settings.adapter_config(), self._http, settings.endpoints)
        self.routes = EngineRoutes(settings.endpoints, settings.agent_engines)

    async def __aenter__(self) -> LlmClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def structured(
        self,
        agent: str,
        messages: list[Message],
        schema: type[T],
        *,
        deadline_s: float | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        adapter: str | None = None,
        frequency_penalty: float | None = None,
    ) -> LlmResult[T]:
        """One chat completion constrained to `schema` and validated into it.

        `agent` names the caller in metrics (a fixed name such as "interest_miner", never per user) and
        chooses the adapter; `adapter` (from `adapter_for`) pins the one a caller already keyed a cache by.
        `frequency_penalty` (OpenAI's: the answer's own tokens only, not the prompt's, unlike vLLM's
        `repetition_penalty`) curbs a small model's loops without discouraging the facts it should quote.
        Raises LlmTimeoutError, LlmUnavailableError, LlmRequestError or LlmOutputError.
        """
        served = await self.adapter_for(agent) if adapter is None else adapter
        body = self._body(messages, max_tokens, temperature, served)
        body["response_format"] = response_format(schema)
        if frequency_penalty:
            body["frequency_penalty"] = frequency_penalty
        completion, latency_s = await self._call(agent, body, deadline_s, served)
        try:
            value = parse_structured(completion.content, completion.finish_reason, schema)
        except LlmOutputError as error:
            _count_failure(agent, error)
            error.prompt_tokens = completion.usage.prompt_tokens
            error.completion_tokens = completion.usage.completion_tokens
            error.latency_s = latency_s
            raise
        metrics.LLM_REQUESTS.labels(agent, "ok").inc()
        return _result(value, completion, latency_s, served)

    async def chat(
        self,
        agent: str,
        messages: list[Message],
        *,
        deadline_s: float | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        adapter: str | None = None,
    ) -> LlmResult[str]:
        """One free-text chat completion; an empty answer is an `LlmOutputError`."""
        served = await self.adapter_for(agent) if adapter is None else adapter
        completion, latency_s = await self._call(
            agent, self._body(messages, max_tokens, temperature, served), deadline_s, served
        )
        if completion.content is None or not completion.content.strip():
            error = LlmOutputError("empty", "the answer has no content")
            _count_failure(agent, error)
            raise error
        metrics.LLM_REQUESTS.labels(agent, "ok").inc()
        return _result(completion.content, completion, latency_s, served)

    async def text_logprob(
        self,
        agent: str,
        messages: list[Message],
        text: str,
        *,
        deadline_s: float | None = None,
        adapter: str | None = None,
    ) -> LlmResult[float]:
        """log P(text | messages) as the model's next answer, from vLLM's prompt logprobs (no generation).

        The likelihood a judge scores by: `text` is appended as the assistant's turn, and the logprobs of
        its own tokens are summed. Its usage counts the prompt the worker computed (all of it: requests with
        prompt logprobs skip vLLM's prefix cache). Raises LlmError like the other calls (LlmOutputError
        "malformed_response" when the worker returns no logprobs for the text).
        """
        own = self.routes.own_engine(agent)
        on_own_engine = own is not None and adapter in (None, own.model)
        if (
            not on_own_engine
            and (self.settings.adapters_dir is not None or self.settings.adapter)
            and not self.settings.prompt_logprobs_with_lora
        ):
            refused = LlmRequestError(
                400,
                "prompt logprobs are refused while the engine serves LoRA (they crash vLLM 0.32 on CPUs)",
            )
            _count_failure(agent, refused)
            raise refused
        served = await self.adapter_for(agent) if adapter is None else adapter
        model = served or self.settings.model
        worker = self._workers(self.routes.endpoints(agent, served))[0]
        deadline = self.settings.deadline_s if deadline_s is None else deadline_s
        started = time.perf_counter()
        try:
            async with asyncio.timeout(deadline):
                tokens = await self._post_json(
                    f"{worker.removesuffix('/v1')}/tokenize",
                    {"model": model, "prompt": text, "add_special_tokens": False},
                )
                reply = await self._post_json(
                    f"{worker}/chat/completions",
                    {
                        "model": model,
                        "messages": [*messages, {"role": "assistant", "content": text}],
                        "add_generation_prompt": False,
                        "continue_final_message": True,
                        "max_tokens": 1,
                        "temperature": 0.0,
                        "prompt_logprobs": 0,
                    },
                )
        except TimeoutError as error:
            timeout = LlmTimeoutError(f"no logprobs within {deadline} s")
            _count_failure(agent, timeout)
            raise timeout from error
        except LlmError as error:
            _count_failure(agent, error)
            raise
        finally:
            metrics.LLM_DURATION.labels(agent).observe(time.perf_counter() - started)
        try:
            value = _text_logprob(tokens, reply)
        except LlmOutputError as error:
            _count_failure(agent, error)
            raise
        counted = reply.get("usage") or {}
        usage = LlmUsage(int(counted.get("prompt_tokens") or 0), int(counted.get("completion_tokens") or 0))
        metrics.LLM_REQUESTS.labels(agent, "ok").inc()
        metrics.LLM_TOKENS.labels(agent, "prompt").inc(usage.prompt_tokens)
        metrics.LLM_TOKENS.labels(agent, "completion").inc(usage.completion_tokens)
        return LlmResult(
            value=value,
            usage=usage,
            latency_s=time.perf_counter() - started,
            worker=worker,
            model=model,
            attempts=1,
            adapter=served,
        )

    async def next_token_logprobs(
        self, agent: str, messages: list[Message], *, top: int = 20, deadline_s: float | None = None
    ) -> dict[str, float]:
        """The `top` likeliest first tokens of the answer with their logprobs (one token generated)."""
        served = await self.adapter_for(agent)
        body = self._body(messages, 1, 0.0, served)
        body["logprobs"] = True
        body["top_logprobs"] = top
        completion, _ = await self._call(agent, body, deadline_s, served)
        if not completion.top_logprobs:
            error = LlmOutputError("malformed_response", "no logprobs in the answer")
            _count_failure(agent, error)
            raise error
        return completion.top_logprobs

    async def _post_json(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self._http.post(url, json=body)
        except httpx.TransportError as error:
            raise LlmUnavailableError(f"{url}: {type(error).__name__}: {error}") from error
        if response.status_code >= 400:
            raise LlmRequestError(response.status_code, response.text[:_DETAIL_CHARS])
        try:
            payload: dict[str, Any] = response.json()
        except ValueError as error:
            raise LlmOutputError("malformed_response", response.text[:_DETAIL_CHARS]) from error
        return payload

    async def adapter_for(self, agent: str, prompt_version: str = "") -> str:
        """The adapter `agent`'s next call in this request uses ("" for the base model), loaded already:
        with `prompt_version`, only one trained on that prompt. An agent with an engine of its own is
        served that engine's model (its adapter merged, named as the adapter by `make run`).

        A caller that keys a cache or provenance by it asks first and passes it to the call.
        """
        own = self.routes.own_engine(agent)
        if own is not None:
            metrics.LLM_ADAPTER_CALLS.labels(agent, "merged").inc()
            return own.model
        return await self.adapters.served(agent, prompt_version)

    def _body(
        self, messages: list[Message], max_tokens: int | None, temperature: float | None, adapter: str
    ) -> dict[str, Any]:
        return {
            "model": adapter or self.settings.model,
            "messages": messages,
            "max_tokens": self.settings.max_tokens if max_tokens is None else max_tokens,
            "temperature": self.settings.temperature if temperature is None else temperature,
            "stream": False,
        }

    async def _call(
        self, agent: str, body: dict[str, Any], deadline_s: float | None, adapter: str = ""
    ) -> tuple[_Completion, float]:
        """Sends `body` within the deadline; records duration and tokens, and the outcome on failure."""
        deadline = self.settings.deadline_s if deadline_s is None else deadline_s
        priority = self.settings.agent_priorities.get(agent, 0)
        if priority:
            body = {**body, "priority": priority}
        if self.settings.record_dir is not None:
            record_body(self.settings.record_dir, agent, body)
        endpoints = self.routes.endpoints(agent, adapter)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(deadline):
                completion = await self._send(agent, body, endpoints)
        except TimeoutError as error:
            timeout = LlmTimeoutError(f"no complete answer within {deadline} s")
            _count_failure(agent, timeout)
            raise timeout from error
        except LlmError as error:
            on_lora = bool(adapter) and endpoints == self.routes.shared
            if on_lora and isinstance(error, LlmRequestError) and error.status == 404:
                # The worker lost the adapter (restarted): load it again on the next call.
                for worker in endpoints:
                    self.adapters.forget(worker, adapter)
            _count_failure(agent, error)
            raise
        except asyncio.CancelledError:
            metrics.LLM_REQUESTS.labels(agent, "cancelled").inc()
            raise
        finally:
            metrics.LLM_DURATION.labels(agent).observe(time.perf_counter() - started)
        metrics.LLM_TOKENS.labels(agent, "prompt").inc(completion.usage.prompt_tokens)
        metrics.LLM_TOKENS.labels(agent, "completion").inc(completion.usage.completion_tokens)
        return completion, time.perf_counter() - started

    def _workers(self, endpoints: tuple[str, ...]) -> list[str]:
        """This call's first worker of `endpoints` (round-robin) and, when there is one, a different one to
        fail over to."""
        first = next(self._turn) % len(endpoints)
        return [endpoints[(first + step) % len(endpoints)] for step in range(min(2, len(endpoints)))]

    async def _send(self, agent: str, body: dict[str, Any], endpoints: tuple[str, ...]) -> _Completion:
        failures: list[str] = []
        for attempt, worker in enumerate(self._workers(endpoints), start=1):
            if attempt > 1:
                metrics.LLM_RETRIES.labels(agent).inc()
            try:
                return await self._attempt(worker, body, attempt)
            except _NotStarted as failure:
                failures.append(f"{worker}: {failure}")
                log.warning("LLM worker failed before answering", extra={"worker": worker})
        raise LlmUnavailableError("no LLM worker answered: " + "; ".join(failures))

    async def _attempt(self, worker: str, body: dict[str, Any], attempt: int) -> _Completion:
        headers = {}
        current = context.current()
        if current.request_id:
            headers["X-Request-Id"] = current.request_id
        if current.user_id:
            # A router that keeps a user's requests on one engine reuses its prefix cache (production-stack's
            # session routing keys on this header).
            headers[USER_ID_HEADER] = current.user_id
        request = self._http.build_request("POST", f"{worker}/chat/completions", json=body, headers=headers)
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TransportError as error:
            raise _NotStarted(f"{type(error).__name__}: {error}") from error
        try:
            if response.status_code >= 500:
                raise _NotStarted(f"HTTP {response.status_code}")
            # From here the worker has answered: whatever happens next is final for this call.
            try:
                raw = await response.aread()
            except httpx.TransportError as error:
                raise LlmUnavailableError(f"{worker} broke off its answer: {error}") from error
        finally:
            await response.aclose()
        if response.status_code >= 400:
            text = raw.decode(errors="replace")[:_DETAIL_CHARS]
            raise LlmRequestError(response.status_code, text)
        return _completion(raw, worker, attempt, self.settings.model)


_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


def record_body(record_dir: Path, agent: str, body: dict[str, Any]) -> None:
    """Appends one request body as a JSON line to the agent's file (one write, so lines never interleave)."""
    record_dir.mkdir(parents=True, exist_ok=True)
    name = _UNSAFE_FILE_CHARS.sub("_", agent) or "agent"
    line = json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n"
    with (record_dir / f"{name}.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()


def _completion(raw: bytes, worker: str, attempts: int, default_model: str) -> _Completion:
    """Reads the OpenAI chat-completion envelope; a malformed one is an invalid output too."""
    try:
        payload = json.loads(raw)
        choice = payload["choices"][0]
        usage = payload.get("usage") or {}
        return _Completion(
            content=choice["message"].get("content"),
            finish_reason=choice.get("finish_reason"),
            usage=LlmUsage(
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)),
            ),
            model=str(payload.get("model") or default_model),
            worker=worker,
            attempts=attempts,
            top_logprobs=_first_top_logprobs(choice),
        )
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
        raise LlmOutputError("malformed_response", f"{error!r}: {raw[:_DETAIL_CHARS]!r}") from error


def _first_top_logprobs(choice: dict[str, Any]) -> dict[str, float] | None:
    content = (choice.get("logprobs") or {}).get("content") or []
    if not content:
        return None
    return {str(entry["token"]): float(entry["logprob"]) for entry in content[0].get("top_logprobs") or []}


def _text_logprob(tokens: dict[str, Any], reply: dict[str, Any]) -> float:
    """The sum of the logprobs of the text's tokens, the last ones of the prompt."""
    try:
        ids = [str(token) for token in tokens["tokens"]]
        logprobs = reply.get("prompt_logprobs") or []
        tail = logprobs[len(logprobs) - len(ids) :] if ids else []
        if len(tail) != len(ids):
            raise KeyError("fewer prompt logprobs than the text's tokens")
        return sum(float(entry[token]["logprob"]) for entry, token in zip(tail, ids, strict=True))
    except (KeyError, TypeError, ValueError) as error:
        raise LlmOutputError("malformed_response", f"no logprobs for the text: {error!r}") from error


def _count_failure(agent: str, error: LlmError) -> None:
    metrics.LLM_REQUESTS.labels(agent, error.outcome).inc()
    if isinstance(error, LlmOutputError):
        metrics.LLM_INVALID_OUTPUT.labels(agent, error.reason).inc()


def _result(value: V, completion: _Completion, latency_s: float, adapter: str) -> LlmResult[V]:
    return LlmResult(
        value=value,
        usage=completion.usage,
        latency_s=latency_s,
        worker=completion.worker,
        model=completion.model,
        attempts=completion.attempts,
        adapter=adapter,
    )
