"""Answers of the base model and an agent's adapters on the held-apart validation users' examples.

The same figures validation records in an adapter's manifest (parse rate, usable share, the agent's hit or
grounding and diversity), for several models on the same examples, so that base, SFT, GRPO and GRPO-SUM
compare on one footing. Greedy, unconstrained decoding (`generation`): the served share of parseable answers,
with vLLM's schema enforced, can only be higher.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent_training.job import Job
from agent_training.model import load_model, load_tokenizer


def evaluate(job: Job, adapters: Mapping[str, Path | None]) -> dict[str, Any]:
    """Figures per model (name -> adapter, None = the base model) on the first `val_generate` examples."""
    examples = job.data.validation[: job.settings.val_generate]
    if not examples:
        raise ValueError(f"{job.agent} has no validation example to answer")
    tokenizer = load_tokenizer(job.base)
    models = {name: job.answer_metrics(load_model(job.base, a), tokenizer) for name, a in adapters.items()}
    return {
        "agent": job.agent,
        "examples": len(examples),
        "validation_users": len({e.user_id for e in examples}),
        "models": models,
    }


def table(result: Mapping[str, Any]) -> str:
    lines = [
        f"{result['agent']} answers on {result['examples']} examples of {result['validation_users']} "
        "validation users (never trained on), greedy"
    ]
    for name, figures in result["models"].items():
        cells = [f"{key} {value:.3f}" for key, value in figures.items() if key != "examples"]
        lines.append(f"  {name:<28} {', '.join(cells)}")
    return "\n".join(lines)
