"""Checks the explainer's sentence: the LLM's text is untrusted, so only a grounded first sentence is kept."""

from __future__ import annotations

from explain.prompts import AGENT
from explain.settings import ExplainSettings
from recgpt_domain import grounding
from recgpt_domain.catalogue import Item
from recgpt_domain.grounding import CatalogueVocabulary
from recgpt_serving import metrics


def problems(
    text: str, item: Item, interest: str, vocabulary: CatalogueVocabulary, settings: ExplainSettings
) -> list[str]:
    """What makes `text` unfit to show (empty when it is fit); each problem is counted as a dropped output."""
    found = grounding.check(
        text,
        item,
        vocabulary,
        interest=interest,
        max_words=settings.max_words,
        max_chars=settings.max_chars,
    )
    for problem in found:
        metrics.AGENT_DROPPED_OUTPUTS.labels(AGENT, problem).inc()
    return found
