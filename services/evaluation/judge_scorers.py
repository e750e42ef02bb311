"""Two ways to score an artefact for the judge, compared on the discrimination sets.

- `VerdictScorer`: the served judge's prompt (judge.prompts, RecGPT-V1 booleans), the score is the number of
  criteria it passes. A judge that passes everything ties every pair.
- `LikelihoodScorer`: how much the context raises the model's own likelihood of the artefact,
  log P(text | item facts or behaviour) - log P(text | no context), read from vLLM's prompt logprobs (one
  forward pass, no generation). A continuous score that needs the text to fit *this* context.
"""

from __future__ import annotations

from typing import Any

import httpx

from evaluation.discrimination_sets import Pair
from judge import prompts as judge_prompts
from recgpt.common.v1 import common_pb2
from recgpt_domain.prompt_text import item_facts
from recgpt_serving.llm.client import LlmClient
from recgpt_serving.llm.errors import LlmError

_SYSTEM = "You are a shop assistant who writes short, factual product notes."
_TITLE_CHARS, _DESCRIPTION_CHARS = 300, 200


class ScoringError(Exception):
    """The engine gave no score for an artefact; the pair counts as unscored."""


class VerdictScorer:
    name = "verdict"

    def __init__(self, client: LlmClient, agent: str = judge_prompts.AGENT) -> None:
        self.client = client
        self.agent = agent

    async def score(self, pair: Pair, text: str) -> float:
        if pair.kind == "explanation":
            assert pair.item is not None
            task = judge_prompts.explanation(pair.interest, pair.item, text)
        else:
            task = judge_prompts.tag(pair.behaviour, common_pb2.Tag(tag=text))
        try:
            result = await self.client.structured(
                self.agent, task.messages, task.schema, max_tokens=judge_prompts.MAX_TOKENS, temperature=0.0
            )
        except LlmError as error:
            raise ScoringError(str(error)) from error
        answer = result.value.model_dump()
        return float(sum(bool(answer[dimension]) for dimension in task.dimensions))


class LikelihoodScorer:
    """Pointwise mutual information of the artefact and its context, by the served model (or an adapter)."""

    name = "likelihood"

    def __init__(self, http: httpx.AsyncClient, endpoint: str, model: str) -> None:
        self.http = http
        # The OpenAI root ".../v1"; vLLM's tokenizer lives beside it.
        self.endpoint = endpoint.rstrip("/")
        self.root = self.endpoint.removesuffix("/v1")
        self.model = model

    async def score(self, pair: Pair, text: str) -> float:
        with_context, without = _questions(pair)
        return await self._logprob(with_context, text) - await self._logprob(without, text)

    async def _logprob(self, question: str, text: str) -> float:
        """log P(text | question) as the model's answer, summed over the text's tokens."""
        tokens = await self._post(
            f"{self.root}/tokenize", {"model": self.model, "prompt": text, "add_special_tokens": False}
        )
        ids = [str(token) for token in tokens["tokens"]]
        count = len(ids)
        reply = await self._post(
            f"{self.endpoint}/chat/completions",
            {
                "model": self.model,
                "messages": [
                    {"role": "system", "content": _SYSTEM},
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": text},
                ],
                "add_generation_prompt": False,
                "continue_final_message": True,
                "max_tokens": 1,
                "temperature": 0.0,
                "prompt_logprobs": 0,
            },
        )
        logprobs = reply.get("prompt_logprobs") or []
        tail = logprobs[-count:] if count else []
        if len(tail) != count or any(
            entry is None or token not in entry for entry, token in zip(tail, ids, strict=True)
        ):
            raise ScoringError(f"no prompt logprobs for the text's {count} tokens")
        return sum(float(entry[token]["logprob"]) for entry, token in zip(tail, ids, strict=True))

    async def _post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self.http.post(url, json=body)
        except httpx.HTTPError as error:
            raise ScoringError(f"{url}: {type(error).__name__}: {error}") from error
        if response.status_code >= 400:
            raise ScoringError(f"{url}: HTTP {response.status_code}: {response.text[:300]}")
        payload: dict[str, Any] = response.json()
        return payload


def _questions(pair: Pair) -> tuple[str, str]:
    """The question with the context the artefact must fit, and the same question without it."""
    if pair.kind == "explanation":
        assert pair.item is not None
        facts = "\n".join(item_facts(pair.item, _TITLE_CHARS, _DESCRIPTION_CHARS))
        ask = f"Write one sentence telling a shopper interested in {pair.interest} why this item suits them."
        return f"Item facts:\n{facts}\n{ask}", ask
    ask = "Name one product category this shopper will buy from next."
    return f"What the shopper did:\n{pair.behaviour}\n{ask}", ask
