"""Judge discrimination of the base model and judge adapters, offline: the measured sets of
`make judge-discrimination` (evaluation.discrimination_sets, its seed), each side scored by its yes/no
verdict as log-odds, log P(Yes) - log P(No) of the answer's first token over the whole vocabulary (the served
scorer reads them from vLLM's top logprobs). Agreement = (wins + ties / 2) / pairs, as there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agent_training.generation import chat_text
from agent_training.job import Job
from agent_training.judge_data import measured_sets, question
from agent_training.model import load_model, load_tokenizer
from evaluation.discrimination_sets import Pair
from evaluation.judge_discrimination import agreement
from recgpt_domain.catalogue import iter_histories
from recgpt_serving.llm.client import Message

_BATCH = 8


def verdict_token_ids(tokenizer: Any) -> tuple[list[int], list[int]]:
    """Token ids that read "yes" / "no" once stripped and case-folded (" Yes", "yes", "YES", ...)."""
    yes: list[int] = []
    no: list[int] = []
    for token_id in range(len(tokenizer)):
        word = tokenizer.decode([token_id]).strip().casefold()
        if word == "yes":
            yes.append(token_id)
        elif word == "no":
            no.append(token_id)
    if not yes or not no:
        raise ValueError("the tokenizer has no token for Yes or for No")
    return yes, no


def yes_log_odds(model: Any, tokenizer: Any, questions: Sequence[Sequence[Message]]) -> list[float]:
    """log P(yes) - log P(no) of the first answer token, per question (the best-scoring spelling of each)."""
    import torch

    yes, no = verdict_token_ids(tokenizer)
    tokenizer.padding_side = "left"
    model.eval()
    odds: list[float] = []
    for start in range(0, len(questions), _BATCH):
        texts = [chat_text(tokenizer, q) for q in questions[start : start + _BATCH]]
        encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            logits = model(**encoded).logits[:, -1].float()
        logp = torch.log_softmax(logits, dim=-1)
        odds.extend(float(v) for v in logp[:, yes].max(dim=1).values - logp[:, no].max(dim=1).values)
    return odds


def evaluate(job: Job, adapters: Mapping[str, Path | None], per_set: int) -> dict[str, Any]:
    """Agreement per set and model (name -> adapter, None = base) on the measured pairs."""
    sets = measured_sets(list(job.items.values()), iter_histories(job.catalogue), per_set)
    tokenizer = load_tokenizer(job.base)
    out: dict[str, Any] = {
        "per_set": per_set,
        "pairs": {name: len(p) for name, p in sets.items()},
        "models": {},
    }
    for name, adapter in adapters.items():
        model = load_model(job.base, adapter)
        figures: dict[str, Any] = {}
        for set_name, pairs in sets.items():
            figures[set_name] = _agreement(model, tokenizer, pairs).model_dump()
        scored = [f for f in figures.values() if f["agreement"] is not None]
        figures["mean"] = sum(f["agreement"] for f in scored) / len(scored) if scored else None
        out["models"][name] = figures
    return out


def _agreement(model: Any, tokenizer: Any, pairs: Sequence[Pair]) -> Any:
    true_odds = yes_log_odds(model, tokenizer, [question(p, p.true_text) for p in pairs])
    false_odds = yes_log_odds(model, tokenizer, [question(p, p.false_text) for p in pairs])
    return agreement(len(pairs), [t - f for t, f in zip(true_odds, false_odds, strict=True)])


def table(result: Mapping[str, Any]) -> str:
    lines = [
        f"judge discrimination (yes/no log-odds), measured sets of {result['per_set']} pairs "
        f"({', '.join(f'{k} {v}' for k, v in result['pairs'].items())}); the target is 0.8"
    ]
    for name, figures in result["models"].items():
        cells = [
            f"{s} {f['agreement']:.3f}"
            for s, f in figures.items()
            if s != "mean" and f["agreement"] is not None
        ]
        mean = figures["mean"]
        lines.append(
            f"  {name:<24} {', '.join(cells)}; mean {mean:.3f}" if mean is not None else f"  {name}: none"
        )
    return "\n".join(lines)
