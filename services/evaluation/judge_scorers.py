"""Two ways to score an artefact for the judge, compared on the discrimination sets.

- `VerdictScorer`: the served judge (RecGPT-V1): its prompt's booleans and, for explanations, its rule-based
  grounding check; the score is the number of criteria passed. A judge that passes everything ties.
- `LikelihoodScorer`: recgpt_serving.llm.likelihood, how much the context raises the model's own
  likelihood of the artefact (pointwise mutual information from vLLM's prompt logprobs). Continuous, and
  needs the text to fit *this* context.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from evaluation.discrimination_sets import Pair
from judge import prompts as judge_prompts
from recgpt.common.v1 import common_pb2
from recgpt_domain import grounding
from recgpt_domain.catalogue import Item
from recgpt_domain.grounding import CatalogueVocabulary
from recgpt_serving.llm import likelihood
from recgpt_serving.llm.client import LlmClient
from recgpt_serving.llm.errors import LlmError


class ScoringError(Exception):
    """The engine gave no score for an artefact; the pair counts as unscored."""


class VerdictScorer:
    """`with_rule=False` scores the LLM's booleans alone ("llm_verdict"), to see what the rule adds."""

    def __init__(
        self,
        client: LlmClient,
        items: Iterable[Item],
        *,
        with_rule: bool = True,
        agent: str = judge_prompts.AGENT,
        answers: dict[str, float] | None = None,
    ) -> None:
        self.name = "verdict" if with_rule else "llm_verdict"
        self.client = client
        self.agent = agent
        self.with_rule = with_rule
        # The LLM's criteria passed, by prompt: shared between the two verdict scorers, asked once.
        self.answers = {} if answers is None else answers
        self.vocabulary = CatalogueVocabulary.from_items(items)

    async def score(self, pair: Pair, text: str) -> float:
        rule = 0.0
        if pair.kind == "explanation" and self.with_rule:
            assert pair.item is not None
            # The judge's own rule at its default bounds (judge.validation.grounding_problems).
            problems = grounding.check(
                text,
                pair.item,
                self.vocabulary,
                interest=pair.interest,
                max_words=grounding.MAX_WORDS,
                max_chars=grounding.MAX_CHARS,
            )
            rule = 0.0 if problems else 1.0
        if pair.kind == "explanation":
            assert pair.item is not None
            task = judge_prompts.explanation(pair.interest, pair.item, text)
        else:
            task = judge_prompts.tag(pair.behaviour, common_pb2.Tag(tag=text))
        key = json.dumps(task.messages)
        if key not in self.answers:
            try:
                result = await self.client.structured(
                    self.agent,
                    task.messages,
                    task.schema,
                    max_tokens=judge_prompts.MAX_TOKENS,
                    temperature=0.0,
                )
            except LlmError as error:
                raise ScoringError(str(error)) from error
            answer = result.value.model_dump()
            self.answers[key] = float(sum(bool(answer[dimension]) for dimension in task.dimensions))
        return rule + self.answers[key]


class LikelihoodScorer:
    name = "likelihood"

    def __init__(self, client: LlmClient, agent: str = judge_prompts.AGENT) -> None:
        self.client = client
        self.agent = agent

    async def score(self, pair: Pair, text: str) -> float:
        if pair.kind == "explanation":
            assert pair.item is not None
            questions = judge_prompts.explanation_questions(pair.interest, pair.item)
        else:
            questions = judge_prompts.tag_questions(pair.behaviour, common_pb2.Tag(tag=text))
        try:
            return await likelihood.pointwise_mutual_information(self.client, self.agent, questions, text)
        except LlmError as error:
            raise ScoringError(str(error)) from error


class VerdictLikelihoodScorer:
    """The judge's yes/no verdict read as log-odds from the first token's logprobs
    (recgpt_serving.llm.likelihood)."""

    name = "yes_no_logodds"

    # The verdict agent: its adapter where one is served (trained on these questions), else the base model.
    def __init__(self, client: LlmClient, agent: str = judge_prompts.VERDICT_AGENT) -> None:
        self.client = client
        self.agent = agent

    async def score(self, pair: Pair, text: str) -> float:
        if pair.kind == "explanation":
            assert pair.item is not None
            messages = judge_prompts.yes_no_explanation(pair.interest, pair.item, text)
        else:
            messages = judge_prompts.yes_no_tag(pair.behaviour, common_pb2.Tag(tag=text))
        try:
            return await likelihood.yes_log_odds(self.client, self.agent, messages)
        except LlmError as error:
            raise ScoringError(str(error)) from error
