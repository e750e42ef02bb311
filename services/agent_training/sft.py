"""Supervised LoRA fine-tuning (TRL's SFTTrainer + peft) from behaviour targets, and V1's self-training.

Self-training samples several answers per prompt from the current model, keeps those that pass the agent's
validators, hit what the user did next and pass the judge's rule (grounding, for explanations), trains on
them and repeats. Every run ends in a versioned adapter (`artefact`), written by rank 0 only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent_training import generation
from agent_training.agents import EXPERT, EXPLANATIONS, INTERESTS, JUDGE, TAGS
from agent_training.artefact import load_manifest
from agent_training.data import Example, NoUsableExamples, fingerprint
from agent_training.job import MAX_NEW_TOKENS, Job, device_options, is_main_process, world_size
from agent_training.model import load_model, load_tokenizer
from agent_training.rewards import ExplanationRewarder, score_expert, score_tags
from agent_training.scoring import interest_names, verdict

log = logging.getLogger(__name__)


def _dataset(examples: Sequence[Example]) -> Any:
    from datasets import Dataset

    return Dataset.from_list([example.as_row() for example in examples])


def fit(
    job: Job, examples: Sequence[Example], model: Any, tokenizer: Any, steps: int
) -> tuple[Any, float, float]:
    """Trains `model` (a PeftModel, or the base with a new LoRA) for `steps`: it, seconds, mean loss."""
    from peft import PeftModel
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    settings = job.settings
    set_seed(settings.seed)
    examples = examples[: seen_examples(job, steps)]
    config = SFTConfig(
        output_dir=str(job.adapters_root / ".trainer" / job.agent),
        max_steps=steps,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        learning_rate=settings.learning_rate,
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=min(10, steps // 10),
        max_length=settings.max_length,
        seed=settings.seed,
        data_seed=settings.seed,
        logging_steps=max(1, min(10, steps // 5)),
        save_strategy="no",
        eval_strategy="no",
        report_to=[],
        disable_tqdm=False,
        # A 135M model fits in memory; recomputing activations would cost a third more time.
        gradient_checkpointing=False,
        dataloader_num_workers=0,
        **device_options(),
        completion_only_loss=True,
    )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=_dataset(examples),
        processing_class=tokenizer,
        peft_config=None if isinstance(model, PeftModel) else job.settings.lora.config(),
    )
    started = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - started
    return trainer.model, seconds, float(result.training_loss)


def seen_examples(job: Job, steps: int) -> int:
    """How many examples `steps` optimiser steps read across every process.

    The examples are already shuffled by the seed, so their first this many are a seeded sample; the trainer
    tokenises only those (all 15,856 tag examples took about 3 minutes here, for runs that read 128).
    """
    settings = job.settings
    return steps * settings.batch_size * settings.grad_accum * world_size()


def run_sft(job: Job) -> Path | None:
    """SFT on the behaviour targets; the adapter's folder (None on ranks other than 0)."""
    data = job.data
    tokenizer = load_tokenizer(job.base)
    model, seconds, loss = fit(job, data.train, load_model(job.base), tokenizer, job.settings.steps)
    if not is_main_process():
        return None
    validation = {"train_loss": round(loss, 4), **job.validate(model, tokenizer)}
    return job.save(
        model,
        method="sft",
        data_fingerprint=data.fingerprint,
        hyperparameters=_hyperparameters(
            job, examples=min(len(data.train), seen_examples(job, job.settings.steps))
        ),
        validation=validation,
        train_seconds=seconds,
    )


def _hyperparameters(job: Job, **extra: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {
        **job.settings.as_dict(),
        "data": asdict(job.data_config),
        "users": job.data.users,
        "world_size": world_size(),
        **extra,
    }


class AnswerFilter:
    """V1's filter of sampled answers: validators, a hit on what the user did next, the judge's rule."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.rewarder: ExplanationRewarder | None = job.rewarder() if job.agent == EXPLANATIONS else None

    def accept(self, example: Example, answer: str) -> bool:
        job = self.job
        if job.agent == TAGS:
            scores = score_tags(
                answer, example.next_categories, job.mapper, job.constraints, example.pool_names
            )
            return (
                scores.parsed
                and scores.accuracy > 0
                and scores.alignment >= job.constraints.min_alignment
                and scores.diversity >= job.constraints.min_diversity
            )
        if job.agent == INTERESTS:
            names = interest_names(answer)
            if not names:
                return False
            matches = job.mapper.map(names)
            mapped = {m.category for m in matches if m.score >= job.constraints.min_category_score}
            return len(mapped) == len(names) and bool(mapped & set(example.next_categories))
        if job.agent == JUDGE:
            return verdict(answer) is not None and verdict(answer) == verdict(example.completion)
        if job.agent == EXPERT:
            pool = dict(zip(example.pool_names, example.pool, strict=True))
            chosen = score_expert(answer, pool, example.next_categories, job.expert_constraints)
            return chosen.valid and chosen.hit > 0
        if self.rewarder is None:
            return False
        explained = self.rewarder.score(answer, job.items[example.item_id], example.interest)
        # The judge's rule-based dimension is this very grounding check; diversity keeps templates out.
        return explained.grounded == 1.0 and explained.diversity >= 0.5


def run_self_training(
    job: Job, *, rounds: int, prompts_per_round: int, samples: int, temperature: float, start: Path | None
) -> Path | None:
    """Rounds of sample -> filter -> train, from `start` (an adapter of this agent) or the base model."""
    data = job.data
    tokenizer = load_tokenizer(job.base)
    model = load_model(job.base, start, trainable=True)
    answer_filter = AnswerFilter(job)
    kept_total: list[Example] = []
    seconds = 0.0
    steps_per_round = max(1, job.settings.steps // max(1, rounds))
    for round_index in range(rounds):
        offset = (round_index * prompts_per_round) % max(1, len(data.train))
        prompts = (data.train[offset:] + data.train[:offset])[:prompts_per_round]
        sampled = generation.generate(
            model,
            tokenizer,
            [e.prompt for e in prompts],
            max_new_tokens=MAX_NEW_TOKENS[job.agent],
            samples=samples,
            temperature=temperature,
        )
        kept: list[Example] = []
        for example, answers in zip(prompts, sampled, strict=True):
            for answer in dict.fromkeys(answers):
                if answer_filter.accept(example, answer):
                    kept.append(replace(example, completion=answer))
        log.warning(
            "self-training round %d: kept %d of %d answers",
            round_index + 1,
            len(kept),
            len(prompts) * samples,
        )
        if not kept:
            continue
        kept_total.extend(kept)
        model, spent, _ = fit(job, kept, model, tokenizer, steps_per_round)
        seconds += spent
    if not kept_total:
        raise NoUsableExamples(
            f"self-training kept no {job.agent} answer in {rounds} rounds "
            f"of {prompts_per_round} prompts x {samples}"
        )
    if not is_main_process():
        return None
    parent = load_manifest(start).version if start is not None else None
    return job.save(
        model,
        method="sft-self",
        data_fingerprint=fingerprint(kept_total, job.data_config, data.fingerprint),
        hyperparameters=_hyperparameters(
            job,
            rounds=rounds,
            prompts_per_round=prompts_per_round,
            samples=samples,
            temperature=temperature,
            kept_answers=len(kept_total),
        ),
        validation=job.validate(model, tokenizer),
        train_seconds=seconds,
        parent=parent,
    )
