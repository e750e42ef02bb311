"""The `free_form` discrimination set: explanations the served explainers write, not one sentence template.

Each sampled item gets one explanation from an explainer, in turn: the prompted one (V1's prompt), the
meta-prompted one (V2's guideline, then the sentence) and any adapter named. Only what the service would show
as the LLM's text is kept: its first sentence, grounded (else the service shows its template). Then half the
pairs set an item's explanation against another item's (another category), judged against the first item;
the other half set it against itself with one made-up attribute (another brand, or a number the item lacks).
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from evaluation.discrimination_sets import Pair
from explain import prompts as explain_prompts
from explain.prompts import Plan, render
from explain.schema import ExplanationAnswer
from recgpt_domain import grounding
from recgpt_domain.catalogue import Item
from recgpt_domain.grounding import CatalogueVocabulary
from recgpt_domain.situation import SEASONS, Situation
from recgpt_serving.llm.client import LlmClient
from recgpt_serving.llm.errors import LlmError

SET_NAME = "free_form"
AGENT = explain_prompts.AGENT
PROMPTED, META_PROMPTED = "prompted", "meta_prompted"


@dataclass(frozen=True)
class Written:
    item: Item
    interest: str
    text: str
    explainer: str


@dataclass(frozen=True)
class Explainer:
    """`method` prompted or meta_prompted; `adapter` a served LoRA adapter's name, "" for the base model."""

    method: str
    adapter: str = ""

    @property
    def name(self) -> str:
        return f"{self.method}@{self.adapter}" if self.adapter else self.method


async def write(
    client: LlmClient, explainer: Explainer, item: Item, interest: str, rng: random.Random
) -> str:
    """One explanation as the service writes it (the shown sentence); raises LlmError."""
    adapter = explainer.adapter or None
    max_words = grounding.MAX_WORDS
    if explainer.method == META_PROMPTED:
        situation = Situation(season=rng.choice(SEASONS))
        plan = Plan.of(item, interest, situation)
        style = await client.structured(
            AGENT,
            explain_prompts.style_messages(interest, item, situation.describe(), plan.qualities.by_kind),
            plan.schema,
            max_tokens=explain_prompts.STYLE_MAX_TOKENS,
            temperature=explain_prompts.STYLE_TEMPERATURE,
            adapter=adapter,
            frequency_penalty=explain_prompts.FREQUENCY_PENALTY,
        )
        guideline = render(style.value, plan.qualities, situation)
        messages = explain_prompts.guided_messages(interest, item, guideline, plan.name, max_words)
        temperature: float | None = explain_prompts.GUIDED_TEMPERATURE
        max_tokens, penalty = explain_prompts.GUIDED_MAX_TOKENS, explain_prompts.FREQUENCY_PENALTY
    else:
        # V1's call as the service makes it: the LLM client's default temperature, no penalty.
        messages = explain_prompts.messages(interest, item, max_words)
        temperature, max_tokens, penalty = None, explain_prompts.MAX_TOKENS, None
    answer = await client.structured(
        AGENT,
        messages,
        ExplanationAnswer,
        max_tokens=max_tokens,
        temperature=temperature,
        adapter=adapter,
        frequency_penalty=penalty,
    )
    return grounding.shown_sentence(answer.value.explanation)


async def written_explanations(
    client: LlmClient,
    items: Sequence[Item],
    count: int,
    rng: random.Random,
    explainers: Sequence[Explainer],
    concurrency: int,
) -> list[Written]:
    """Up to `count` grounded explanations of distinct items, the explainers taking turns."""
    vocabulary = CatalogueVocabulary.from_items(items)
    usable = [item for item in items if item.title and item.category]
    # Some answers fail or are ungrounded: ask for twice as many as needed.
    chosen = rng.sample(usable, min(len(usable), 2 * count))
    slots = asyncio.Semaphore(concurrency)
    seeds = [rng.random() for _ in chosen]

    async def one(index: int, item: Item) -> Written | None:
        explainer = explainers[index % len(explainers)]
        async with slots:
            try:
                text = await write(client, explainer, item, item.category, random.Random(seeds[index]))
            except LlmError:
                return None
        if grounding.check(text, item, vocabulary, interest=item.category):
            return None
        return Written(item, item.category, text, explainer.name)

    found = await asyncio.gather(*(one(i, item) for i, item in enumerate(chosen)))
    return [entry for entry in found if entry is not None][:count]


def made_up(written: Written, brands: Sequence[str], rng: random.Random, as_number: bool) -> str:
    """The explanation with one attribute the item lacks: another brand, or a number it never states."""
    text, item = written.text, written.item
    if as_number:
        own = grounding.numbers(f"{item.title} {item.description} {text}")
        years = next(str(n) for n in rng.sample(range(2, 60), 58) if str(n) not in own)
        return f"{text.rstrip(' .!')} with a {years}-year warranty."
    other = next(b for b in rng.sample(list(brands), len(brands)) if b.casefold() not in _facts(item))
    if item.brand and item.brand.casefold() in text.casefold():
        return re.sub(re.escape(item.brand), other, text, flags=re.IGNORECASE)
    return f"{text.rstrip(' .!')}, by {other}."


def _facts(item: Item) -> str:
    return f"{item.title} {item.brand} {item.description}".casefold()


def free_form_pairs(written: Sequence[Written], brands: Sequence[str], rng: random.Random) -> list[Pair]:
    """Even entries: against another item's explanation; odd ones: against a made-up attribute."""
    pairs: list[Pair] = []
    for index, entry in enumerate(written):
        if index % 2 == 0:
            others = [o for o in written if o.item.category != entry.item.category]
            if not others:
                continue
            false_text = rng.choice(others).text
        else:
            false_text = made_up(entry, brands, rng, as_number=index % 4 == 3)
        pairs.append(
            Pair(SET_NAME, "explanation", entry.text, false_text, item=entry.item, interest=entry.interest)
        )
    return pairs


async def build_free_form(
    client: LlmClient,
    items: Sequence[Item],
    count: int,
    seed: int,
    explainers: Sequence[Explainer],
    concurrency: int,
) -> tuple[list[Pair], list[Written]]:
    """The set (and what was written, for the report), the same items for the same seed."""
    rng = random.Random(seed + 3)
    written = await written_explanations(client, items, count, rng, explainers, concurrency)
    brands = sorted({item.brand for item in items if item.brand and len(item.brand) > 2})
    return free_form_pairs(written, brands, rng), written
