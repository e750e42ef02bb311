"""The adapter throughput bench: prompts that share no prefix, of the length asked, each request counted."""

from __future__ import annotations

import httpx

from evaluation import bench_adapters
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI


def test_prompts_differ_from_the_first_word_and_carry_the_filler_asked() -> None:
    short, long = bench_adapters.prompt(1, 0), bench_adapters.prompt(1, 400)
    assert long.startswith(short) and len(long.split()) == len(short.split()) + 400
    assert bench_adapters.prompt(2, 400).split()[0] != long.split()[0]


async def test_every_request_is_counted_with_its_generated_tokens(fake_llm: FakeOpenAI) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        figure = await bench_adapters.run(
            http, fake_llm.base_url, "some-adapter", requests=5, concurrency=2, tokens=7, prompt_words=30
        )
    assert (figure.requests, figure.failed, figure.model) == (5, 0, "some-adapter")
    # The warm-up request is sent, not measured; each measured one asks for exactly `tokens`.
    assert len(fake_llm.seen) == 6
    body = fake_llm.seen[-1].body
    assert body["max_tokens"] == 7 and body["ignore_eos"] is True and body["model"] == "some-adapter"
    assert len(body["messages"][0]["content"].split()) > 30
    assert figure.tokens_per_s > 0
