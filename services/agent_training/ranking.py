"""Tags ranked by the model's own likelihood: constrained to catalogue names, so every answer maps.

The offline twin of the tag service's ranking mode (`recgpt_domain.tag_ranking`, which shares the
answer's text and the fusion): free generation from the 135M model repeats itself and names few
categories; here the model only scores. For each user, a pool of candidate categories (frequent +
transitions, then the most common) is written as the tag agent's answer would start,
`{"tags": [{"tag": "<category tag>"`, and the candidate's log probability after the agent's prompt is its
score. The prompt is encoded once per user and its key-value cache
shared by every candidate, so a pool of 60 costs about one prompt's forward pass, not 60.

Scores: `loglik` (log P(tag | prompt)), `pmi` (the same minus log P(tag | the prompt without the user's
behaviour), which discounts names the model likes whatever the user did), and each fused with the statistics'
own order by reciprocal ranks (does the model add to the statistics, rather than replace them?).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from agent_training.generation import chat_text
from recgpt_domain.tag_ranking import ANSWER_AFTER_TAG, ANSWER_PREFIX, by_score, fuse
from recgpt_serving.llm.client import Message

# Candidates scored per forward pass (each holds a copy of the prompt's cache).
_CHUNK = 16


def candidate_logprobs(
    model: Any, tokenizer: Any, prompt: Sequence[Message], candidates: Sequence[str]
) -> list[float]:
    """log P(candidate, then the closing quote | the prompt and the answer's opening), per candidate."""
    import torch

    prefix = chat_text(tokenizer, prompt) + ANSWER_PREFIX
    prefix_ids = tokenizer(prefix, return_tensors="pt", add_special_tokens=False).input_ids
    model.eval()
    with torch.no_grad():
        encoded = model(input_ids=prefix_ids, use_cache=True)
    first = torch.log_softmax(encoded.logits[0, -1].float(), dim=-1)
    cache = encoded.past_key_values
    suffixes = [
        tokenizer(candidate + ANSWER_AFTER_TAG, add_special_tokens=False).input_ids
        for candidate in candidates
    ]
    scores: list[float] = []
    for start in range(0, len(suffixes), _CHUNK):
        chunk = suffixes[start : start + _CHUNK]
        width = max(len(s) for s in chunk)
        ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, suffix in enumerate(chunk):
            ids[row, : len(suffix)] = torch.tensor(suffix)
            mask[row, : len(suffix)] = 1
        shared = copy.deepcopy(cache)
        shared.batch_repeat_interleave(len(chunk))
        attention = torch.cat([torch.ones((len(chunk), prefix_ids.shape[1]), dtype=torch.long), mask], dim=1)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=attention, past_key_values=shared).logits
        # Token j of a suffix is predicted by the prompt's last position (j = 0) or the suffix's j - 1.
        following = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        predicted = torch.cat([first.expand(len(chunk), 1, -1), following], dim=1)
        picked = predicted.gather(2, ids.unsqueeze(-1)).squeeze(-1) * mask
        scores.extend(float(value) for value in picked.sum(dim=1))
    return scores


def rankings(
    pool: Sequence[str],
    tags: Mapping[str, str],
    with_context: Sequence[float],
    without_context: Mapping[str, float],
) -> dict[str, list[str]]:
    """The pool (statistics' order) re-ranked per score, and each fused with the statistics' order."""
    loglik = by_score(pool, with_context)
    pmi = by_score(pool, [s - without_context[tags[c]] for c, s in zip(pool, with_context, strict=True)])
    return {
        "loglik": loglik,
        "pmi": pmi,
        "loglik+statistics": fuse(pool, loglik),
        "pmi+statistics": fuse(pool, pmi),
    }
