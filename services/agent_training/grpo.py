"""GRPO (TRL's GRPOTrainer) with RecGPT-V2's constrained reward shaping, or the summed reward (GRPO-SUM).

Tags: accuracy gated by alignment, diversity and length; explanations: the judge's (proxy) verdict gated by
diversity against a buffer of the 160 most recent explanations; RecGPT-V2's persona experts: the hit in their
pool gated by validity (the schema, every pick in the pool, none twice) and length (`rewards`). Starts from an
adapter of the agent (SFT) or a fresh LoRA.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent_training.agents import EXPERT, EXPLANATIONS, TAGS
from agent_training.artefact import Method, load_manifest
from agent_training.data import Example, NoUsableExamples
from agent_training.job import MAX_NEW_TOKENS, Job, device_options, is_main_process, world_size
from agent_training.model import load_model, load_tokenizer
from agent_training.rewards import Shaping, completion_text, score_expert, score_tags

GRPO_AGENTS = (TAGS, EXPLANATIONS, EXPERT)
EXPLANATION_MIN_DIVERSITY = 0.5


def _rows(examples: Sequence[Example]) -> list[dict[str, Any]]:
    return [
        {
            "prompt": e.prompt,
            "next_categories": list(e.next_categories),
            "item_id": e.item_id,
            "interest": e.interest,
            "pool": list(e.pool),
            "pool_names": list(e.pool_names),
        }
        for e in examples
    ]


def reward_function(job: Job, shaping: Shaping) -> Any:
    """The reward TRL calls with the completions and the dataset's columns."""
    if job.agent == TAGS:

        def tag_reward(
            completions: list[Any], next_categories: list[list[str]], pool_names: list[list[str]], **_: Any
        ) -> list[float]:
            return [
                score_tags(completion_text(c), cats, job.mapper, job.constraints, names).reward(
                    shaping, job.constraints
                )
                for c, cats, names in zip(completions, next_categories, pool_names, strict=True)
            ]

        tag_reward.__name__ = f"tags_{shaping}"
        return tag_reward
    if job.agent == EXPERT:
        constraints = job.expert_constraints

        def expert_reward(
            completions: list[Any],
            next_categories: list[list[str]],
            pool: list[list[str]],
            pool_names: list[list[str]],
            **_: Any,
        ) -> list[float]:
            return [
                score_expert(
                    completion_text(c), dict(zip(names, categories, strict=True)), targets, constraints
                ).reward(shaping)
                for c, targets, categories, names in zip(
                    completions, next_categories, pool, pool_names, strict=True
                )
            ]

        expert_reward.__name__ = f"experts_{shaping}"
        return expert_reward
    rewarder = job.rewarder()

    def explanation_reward(
        completions: list[Any], item_id: list[str], interest: list[str], **_: Any
    ) -> list[float]:
        return [
            rewarder.score(completion_text(c), job.items[i], why).reward(shaping, EXPLANATION_MIN_DIVERSITY)
            for c, i, why in zip(completions, item_id, interest, strict=True)
        ]

    explanation_reward.__name__ = f"explanations_{shaping}"
    return explanation_reward


def run_grpo(
    job: Job, *, shaping: Shaping, generations: int, temperature: float, start: Path | None
) -> Path | None:
    if job.agent not in GRPO_AGENTS:
        raise NoUsableExamples(
            f"GRPO trains {', '.join(GRPO_AGENTS)} (rewards are defined for them), not {job.agent}"
        )
    from datasets import Dataset
    from peft import PeftModel
    from transformers import set_seed
    from trl import GRPOConfig, GRPOTrainer

    settings = job.settings
    set_seed(settings.seed)
    data = job.data
    tokenizer = load_tokenizer(job.base)
    model = load_model(job.base, start, trainable=True)
    # Every prompt's `generations` answers form one group; a batch holds whole groups.
    batch = max(settings.batch_size, generations) // generations * generations
    config = GRPOConfig(
        output_dir=str(job.adapters_root / ".trainer" / job.agent),
        max_steps=settings.steps,
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=settings.grad_accum,
        num_generations=generations,
        max_completion_length=MAX_NEW_TOKENS[job.agent],
        temperature=temperature,
        learning_rate=settings.learning_rate,
        beta=0.0,
        seed=settings.seed,
        data_seed=settings.seed,
        logging_steps=max(1, min(10, settings.steps // 5)),
        save_strategy="no",
        report_to=[],
        disable_tqdm=False,
        # A 135M model fits in memory; recomputing activations would cost a third more time.
        gradient_checkpointing=False,
        **device_options(),
        dataloader_num_workers=0,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward_function(job, shaping)],
        args=config,
        train_dataset=Dataset.from_list(_rows(data.train)),
        processing_class=tokenizer,
        peft_config=None if isinstance(model, PeftModel) else settings.lora.config(),
    )
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    if not is_main_process():
        return None
    rewards = [row["reward"] for row in trainer.state.log_history if "reward" in row]
    method: Method = "grpo" if shaping == "crs" else "grpo-sum"
    validation = {
        "reward_first": round(rewards[0], 4) if rewards else None,
        "reward_last": round(rewards[-1], 4) if rewards else None,
        **job.validate(trainer.model, tokenizer),
    }
    from dataclasses import asdict

    return job.save(
        trainer.model,
        method=method,
        data_fingerprint=data.fingerprint,
        hyperparameters={
            **settings.as_dict(),
            "data": asdict(job.data_config),
            "shaping": shaping,
            "generations": generations,
            "temperature": temperature,
            "examples": len(data.train),
            "world_size": world_size(),
        },
        validation=validation,
        train_seconds=seconds,
        parent=load_manifest(start).version if start is not None else None,
    )
