"""The LLM client against the real vLLM serving SmolLM2: JSON-schema output is enforced and validates."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from recgpt_domain import tag_ranking as ranking
from recgpt_serving.llm.client import LlmClient, LlmSettings
from recgpt_tools import redis_server
from recgpt_tools.llm_smoke import MESSAGES, Interests
from tags import prompts as tag_prompts

pytestmark = pytest.mark.integration


class Verdict(BaseModel):
    category: str = Field(min_length=1, max_length=40)
    confidence: int = Field(ge=1, le=5)


def settings(*endpoints: str) -> LlmSettings:
    return LlmSettings(endpoints=list(endpoints), deadline_s=120.0, temperature=0.0)


async def test_structured_output_validates_against_real_vllm(vllm_endpoint: str) -> None:
    async with LlmClient(settings(vllm_endpoint)) as client:
        result = await client.structured("it_smoke", MESSAGES, Interests, max_tokens=200)
    assert 1 <= len(result.value.interests) <= 5
    assert all(item.interest.strip() for item in result.value.interests)
    assert result.model == "smollm2-135m-instruct"
    assert result.usage.prompt_tokens > 20
    assert 0 < result.usage.completion_tokens <= 200


async def test_bounded_fields_and_failover_on_real_vllm(vllm_endpoint: str) -> None:
    """A dead first worker costs one retry; the schema's bounds hold in what the model writes."""
    refused = f"http://127.0.0.1:{redis_server.free_port()}/v1"
    messages = [
        {"role": "user", "content": "Classify 'soldering iron' into a shop category, with confidence 1-5."}
    ]
    async with LlmClient(settings(refused, vllm_endpoint)) as client:
        result = await client.structured("it_verdict", messages, Verdict, max_tokens=60)
    assert result.worker == vllm_endpoint
    assert result.attempts == 2
    assert 1 <= result.value.confidence <= 5


async def test_text_logprob_scores_a_tag_on_real_vllm(vllm_endpoint: str) -> None:
    """What the tag service's ranking mode scores by: a fitting tag is likelier than gibberish, and its
    usage counts the whole prompt."""
    messages = tag_prompts.messages("Beakers: Pyrex borosilicate glass beaker set", ["lab glassware"], 5)
    async with LlmClient(settings(vllm_endpoint)) as client:
        fitting = await client.text_logprob("it_rank", messages, ranking.answer_start("Lab Beakers"))
        gibberish = await client.text_logprob("it_rank", messages, ranking.answer_start("Qzx Vrrkplomb"))
    assert gibberish.value < fitting.value < 0
    assert fitting.usage.prompt_tokens > 50
    assert fitting.model == "smollm2-135m-instruct"
