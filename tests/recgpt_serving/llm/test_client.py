"""The LLM client against fake OpenAI-compatible workers: parsing, deadlines, fail-over and metrics."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from pydantic import BaseModel, SecretStr

from recgpt_serving import context
from recgpt_serving.llm.client import LlmClient, LlmSettings
from recgpt_serving.llm.errors import (
    LlmOutputError,
    LlmRequestError,
    LlmTimeoutError,
    LlmUnavailableError,
)
from recgpt_tools import redis_server
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI

MESSAGES = [{"role": "user", "content": "Name something."}]


class Named(BaseModel):
    name: str


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def refused_endpoint() -> str:
    """A local port nobody listens on: connecting is refused at once."""
    return f"http://127.0.0.1:{redis_server.free_port()}/v1"


def client_for(*endpoints: str, deadline_s: float = 5.0) -> LlmClient:
    return LlmClient(LlmSettings(endpoints=list(endpoints), model="fake", deadline_s=deadline_s))


async def test_structured_answer_is_parsed_with_usage_and_metrics(fake_llm: FakeOpenAI) -> None:
    tokens_before = metric("recgpt_llm_tokens_total", agent="t_valid", kind="completion")
    async with client_for(fake_llm.base_url) as client:
        with context.bound(context.RequestContext(request_id="req-42", user_id="u-7")):
            result = await client.structured("t_valid", MESSAGES, Named, max_tokens=33)
    assert result.value == Named(name="ok")
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (12, 7)
    assert result.worker == fake_llm.base_url
    assert result.model == "fake-model"
    assert result.attempts == 1
    assert result.latency_s > 0
    seen = fake_llm.seen[0]
    assert seen.headers["x-request-id"] == "req-42"
    # The key of production-stack's session routing (deploy/production-stack/values.yaml).
    assert seen.headers["x-user-id"] == "u-7"
    assert seen.body["model"] == "fake"
    assert seen.body["max_tokens"] == 33
    response_format = seen.body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    assert response_format["json_schema"]["schema"] == Named.model_json_schema()
    assert metric("recgpt_llm_tokens_total", agent="t_valid", kind="completion") == tokens_before + 7
    assert metric("recgpt_llm_tokens_total", agent="t_valid", kind="prompt") >= 12
    assert metric("recgpt_llm_requests_total", agent="t_valid", outcome="ok") >= 1
    assert metric("recgpt_llm_request_duration_seconds_count", agent="t_valid") >= 1


@pytest.mark.parametrize(
    ("content", "finish_reason", "reason"),
    [
        ('{"name": ', "stop", "invalid_json"),
        ('{"name": "cut', "length", "truncated"),
        ('{"title": "wrong field"}', "stop", "schema_mismatch"),
        ("", "stop", "empty"),
        (None, "stop", "empty"),
    ],
)
async def test_invalid_output_raises_and_counts(
    fake_llm: FakeOpenAI, content: str | None, finish_reason: str, reason: str
) -> None:
    agent = f"t_invalid_{reason}"
    fake_llm.behaviour.content = content
    fake_llm.behaviour.finish_reason = finish_reason
    before = metric("recgpt_llm_invalid_output_total", agent=agent, reason=reason)
    async with client_for(fake_llm.base_url) as client:
        with pytest.raises(LlmOutputError) as raised:
            await client.structured(agent, MESSAGES, Named)
    assert raised.value.reason == reason
    assert metric("recgpt_llm_invalid_output_total", agent=agent, reason=reason) == before + 1
    assert metric("recgpt_llm_requests_total", agent=agent, outcome="invalid_output") >= 1
    # The tokens were spent all the same.
    assert metric("recgpt_llm_tokens_total", agent=agent, kind="completion") >= 7


async def test_timeout_is_raised_within_the_deadline(fake_llm: FakeOpenAI) -> None:
    fake_llm.behaviour.mode = "hang_before_headers"
    async with client_for(fake_llm.base_url) as client:
        started = time.perf_counter()
        with pytest.raises(LlmTimeoutError):
            await client.structured("t_timeout", MESSAGES, Named, deadline_s=0.4)
        elapsed = time.perf_counter() - started
    assert 0.35 < elapsed < 1.0
    assert len(fake_llm.seen) == 1
    assert metric("recgpt_llm_requests_total", agent="t_timeout", outcome="timeout") >= 1


async def test_refused_worker_fails_over_to_the_next(fake_llm: FakeOpenAI) -> None:
    before = metric("recgpt_llm_retries_total", agent="t_failover")
    async with client_for(refused_endpoint(), fake_llm.base_url) as client:
        result = await client.structured("t_failover", MESSAGES, Named)
    assert result.value.name == "ok"
    assert result.worker == fake_llm.base_url
    assert result.attempts == 2
    assert metric("recgpt_llm_retries_total", agent="t_failover") == before + 1


@pytest.mark.parametrize("failure", ["status_503", "drop"])
async def test_failure_before_any_byte_is_retried_elsewhere(
    fake_llm: FakeOpenAI, fake_llm_2: FakeOpenAI, failure: str
) -> None:
    if failure == "drop":
        fake_llm.behaviour.mode = "drop"
    else:
        fake_llm.behaviour.mode = "status"
        fake_llm.behaviour.status = 503
    async with client_for(fake_llm.base_url, fake_llm_2.base_url) as client:
        result = await client.structured("t_retry_5xx", MESSAGES, Named)
    assert result.worker == fake_llm_2.base_url
    assert (len(fake_llm.seen), len(fake_llm_2.seen)) == (1, 1)


async def test_no_retry_once_the_answer_started(fake_llm: FakeOpenAI, fake_llm_2: FakeOpenAI) -> None:
    fake_llm.behaviour.mode = "hang_after_headers"
    before = metric("recgpt_llm_retries_total", agent="t_started")
    async with client_for(fake_llm.base_url, fake_llm_2.base_url) as client:
        started = time.perf_counter()
        with pytest.raises(LlmTimeoutError):
            await client.structured("t_started", MESSAGES, Named, deadline_s=0.4)
        assert time.perf_counter() - started < 1.0
    assert (len(fake_llm.seen), len(fake_llm_2.seen)) == (1, 0)
    assert metric("recgpt_llm_retries_total", agent="t_started") == before


async def test_deadline_covers_the_retry(fake_llm: FakeOpenAI, fake_llm_2: FakeOpenAI) -> None:
    fake_llm.behaviour.mode = "status"
    fake_llm.behaviour.status = 500
    fake_llm.behaviour.latency_s = 0.3
    fake_llm_2.behaviour.mode = "hang_before_headers"
    async with client_for(fake_llm.base_url, fake_llm_2.base_url) as client:
        started = time.perf_counter()
        with pytest.raises(LlmTimeoutError):
            await client.structured("t_deadline_retry", MESSAGES, Named, deadline_s=0.5)
        elapsed = time.perf_counter() - started
    assert 0.45 < elapsed < 1.0
    assert (len(fake_llm.seen), len(fake_llm_2.seen)) == (1, 1)


async def test_every_worker_down_is_unavailable() -> None:
    async with client_for(refused_endpoint(), refused_endpoint()) as client:
        with pytest.raises(LlmUnavailableError, match="no LLM worker answered"):
            await client.structured("t_down", MESSAGES, Named)
    assert metric("recgpt_llm_requests_total", agent="t_down", outcome="unavailable") >= 1


async def test_rejected_request_is_not_retried(fake_llm: FakeOpenAI, fake_llm_2: FakeOpenAI) -> None:
    fake_llm.behaviour.mode = "status"
    fake_llm.behaviour.status = 400
    async with client_for(fake_llm.base_url, fake_llm_2.base_url) as client:
        with pytest.raises(LlmRequestError) as raised:
            await client.structured("t_rejected", MESSAGES, Named)
    assert raised.value.status == 400
    assert "scripted" in str(raised.value)
    assert len(fake_llm_2.seen) == 0


async def test_malformed_envelope_is_invalid_output(fake_llm: FakeOpenAI) -> None:
    fake_llm.behaviour.mode = "status"
    fake_llm.behaviour.status = 200
    async with client_for(fake_llm.base_url) as client:
        with pytest.raises(LlmOutputError) as raised:
            await client.structured("t_malformed", MESSAGES, Named)
    assert raised.value.reason == "malformed_response"
    assert metric("recgpt_llm_invalid_output_total", agent="t_malformed", reason="malformed_response") >= 1


async def test_calls_take_turns_over_the_workers(fake_llm: FakeOpenAI, fake_llm_2: FakeOpenAI) -> None:
    async with client_for(fake_llm.base_url, fake_llm_2.base_url) as client:
        workers = [(await client.structured("t_rr", MESSAGES, Named)).worker for _ in range(4)]
    assert workers == [fake_llm.base_url, fake_llm_2.base_url] * 2


async def test_chat_returns_text(fake_llm: FakeOpenAI) -> None:
    fake_llm.behaviour.content = "Because it solders."
    async with client_for(fake_llm.base_url) as client:
        result = await client.chat("t_chat", MESSAGES, temperature=0.0)
    assert result.value == "Because it solders."
    assert "response_format" not in fake_llm.seen[0].body
    assert fake_llm.seen[0].body["temperature"] == 0.0
    assert "x-request-id" not in fake_llm.seen[0].headers
    assert "x-user-id" not in fake_llm.seen[0].headers


async def test_a_configured_adapter_is_named_in_every_request(
    fake_llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vLLM's multi-LoRA serves an adapter under its own model name: requests must name it."""
    monkeypatch.setenv("RECGPT_LLM_ENDPOINTS", fake_llm.base_url)
    monkeypatch.setenv("RECGPT_LLM_MODEL", "base")
    monkeypatch.setenv("RECGPT_LLM_ADAPTER", "tags-sft-3")
    async with LlmClient(LlmSettings()) as client:
        await client.structured("t_adapter", MESSAGES, Named)
        await client.chat("t_adapter", MESSAGES)
    assert [seen.body["model"] for seen in fake_llm.seen] == ["tags-sft-3", "tags-sft-3"]


async def test_an_agents_priority_is_sent_and_the_others_send_none(
    fake_llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On an engine scheduling by priority, explanations wait behind the profile's agents (0: unnamed)."""
    monkeypatch.setenv("RECGPT_LLM_ENDPOINTS", fake_llm.base_url)
    monkeypatch.setenv("RECGPT_LLM_AGENT_PRIORITIES", "explainer=1, judge=2")
    async with LlmClient(LlmSettings()) as client:
        await client.structured("explainer", MESSAGES, Named)
        await client.chat("judge", MESSAGES)
        await client.structured("tag_predictor", MESSAGES, Named)
    sent = [seen.body.get("priority") for seen in fake_llm.seen]
    assert sent == [1, 2, None]
    monkeypatch.setenv("RECGPT_LLM_AGENT_PRIORITIES", "explainer=low")
    with pytest.raises(ValueError, match="'explainer=low' is not agent=integer"):
        LlmSettings()


def test_settings_read_comma_separated_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECGPT_LLM_ENDPOINTS", "http://a:8100/v1/, http://b:8100/v1")
    monkeypatch.setenv("RECGPT_LLM_DEADLINE_S", "2.5")
    settings = LlmSettings()
    assert settings.endpoints == ["http://a:8100/v1", "http://b:8100/v1"]
    assert settings.deadline_s == 2.5
    monkeypatch.setenv("RECGPT_LLM_ENDPOINTS", "")
    with pytest.raises(ValueError, match="endpoints"):
        LlmSettings()


def test_response_format_round_trips_as_json() -> None:
    from recgpt_serving.llm.client import response_format

    assert json.loads(json.dumps(response_format(Named)))["json_schema"]["name"] == "Named"


async def test_record_dir_appends_every_request_body_per_agent(
    fake_llm: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_dir = tmp_path / "recorded"
    monkeypatch.setenv("RECGPT_LLM_RECORD_DIR", str(record_dir))
    settings = LlmSettings(endpoints=[fake_llm.base_url], model="fake")
    assert settings.record_dir == record_dir
    async with LlmClient(settings) as client:
        await client.structured("t_record", MESSAGES, Named, max_tokens=21)
        await client.chat("t_record", MESSAGES)
        await client.chat("t_record/other", MESSAGES)
    lines = (record_dir / "t_record.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [seen.body for seen in fake_llm.seen[:2]]
    assert json.loads(lines[0])["max_tokens"] == 21
    assert "response_format" in json.loads(lines[0])
    assert (record_dir / "t_record_other.jsonl").read_text().count("\n") == 1


async def test_nothing_is_recorded_by_default(fake_llm: FakeOpenAI) -> None:
    async with client_for(fake_llm.base_url) as client:
        assert client.settings.record_dir is None
        await client.chat("t_no_record", MESSAGES)


async def test_the_engines_api_key_goes_with_every_call(fake_llm: FakeOpenAI) -> None:
    keyed = LlmSettings(endpoints=[fake_llm.base_url], model="fake", api_key=SecretStr("engine-key"))
    async with LlmClient(keyed) as client:
        await client.structured("t_key", MESSAGES, Named)
    assert fake_llm.seen[-1].headers["authorization"] == "Bearer engine-key"
    async with LlmClient(LlmSettings(endpoints=[fake_llm.base_url], model="fake")) as client:
        await client.structured("t_key", MESSAGES, Named)
    assert "authorization" not in fake_llm.seen[-1].headers
