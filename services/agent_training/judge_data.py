"""The judge's training examples: discrimination pairs (evaluation.discrimination_sets) turned into its yes/no
questions (judge.prompts), "Yes" for the true side and "No" for the false one.

Kept apart from what measures the judge: no item, user or sentence of the measured sets (the seed and the
largest size `eval-judge` and `make judge-discrimination` draw) enters, nor any user the evaluation draws,
and users' logs lose their last interaction as everywhere in training.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from pathlib import Path

from agent_training.agents import JUDGE
from agent_training.data import (
    DataConfig,
    Example,
    TrainingData,
    fingerprint,
    is_validation_user,
    read_catalogue,
    reserved_for_evaluation,
    training_order,
)
from evaluation.discrimination_sets import Pair, build_sets, explanation_pairs, grounding_pairs, tag_pairs
from evaluation.split import eligible
from judge import prompts as judge_prompts
from recgpt.common.v1 import common_pb2
from recgpt_domain.catalogue import Item, UserHistory
from recgpt_serving.llm.client import Message

# The measurement's draw: its seed, and the most pairs per set it is run with.
MEASUREMENT_SEED = 0
MEASUREMENT_MAX_PER_SET = 200
YES, NO = "Yes", "No"


def question(pair: Pair, text: str) -> list[Message]:
    """The yes/no question the judge answers about one side of a pair."""
    if pair.kind == "explanation":
        if pair.item is None:
            raise ValueError("an explanation pair names its item")
        return judge_prompts.yes_no_explanation(pair.interest, pair.item, text)
    return judge_prompts.yes_no_tag(pair.behaviour, common_pb2.Tag(tag=text))


def measured_sets(
    items: Sequence[Item], histories: Iterable[UserHistory], per_set: int
) -> dict[str, list[Pair]]:
    """The pairs the judge is measured on (the same for the same size: the measurement's own seed)."""
    if not 1 <= per_set <= MEASUREMENT_MAX_PER_SET:
        raise ValueError(f"pairs per set must be 1..{MEASUREMENT_MAX_PER_SET}, got {per_set}")
    return build_sets(items, histories, per_set, MEASUREMENT_SEED)


def _pair_key(pair: Pair) -> str:
    return pair.user_id or (pair.item.item_id if pair.item is not None else pair.true_text)


def build(
    histories: Iterable[UserHistory],
    items: Sequence[Item],
    config: DataConfig,
    catalogue_fingerprint: str = "",
    pairs_per_set: int = 1000,
) -> TrainingData:
    """Two examples per training pair (its true and its false side); raises `NoUsableExamples` when none."""
    logs = list(histories)
    splits = eligible(logs)
    measured = [p for pairs in measured_sets(items, logs, MEASUREMENT_MAX_PER_SET).values() for p in pairs]
    kept_apart_items = {p.item.item_id for p in measured if p.item is not None}
    kept_apart_users = reserved_for_evaluation(splits, config) | {p.user_id for p in measured if p.user_id}
    # Sentences only: a tag pair's texts are category names, which every set shares (its user is kept apart).
    kept_apart_texts = {t for p in measured if p.kind == "explanation" for t in (p.true_text, p.false_text)}
    training_items = [item for item in items if item.item_id not in kept_apart_items]
    training_logs = [
        UserHistory(user_id=split.user_id, interactions=split.history)
        for split in splits
        if split.user_id not in kept_apart_users
    ]
    # Users' categories are read off every item (a measured item in a training user's log is no leak).
    rng = random.Random(config.seed + 1)
    sets = {
        "explanation_item": explanation_pairs(training_items, pairs_per_set, rng),
        "tags_user": tag_pairs(training_logs, {item.item_id: item for item in items}, pairs_per_set, rng),
        "grounding": grounding_pairs(training_items, pairs_per_set, rng),
    }
    train: list[Example] = []
    validation: list[Example] = []
    skipped = 0
    for pairs in sets.values():
        for pair in pairs:
            # The false side of an explanation pair is another item's sentence: it may be a measured one.
            if pair.true_text in kept_apart_texts or pair.false_text in kept_apart_texts:
                skipped += 1
                continue
            key = _pair_key(pair)
            into = validation if is_validation_user(key, config) else train
            for text, verdict in ((pair.true_text, YES), (pair.false_text, NO)):
                into.append(
                    Example(user_id=key, prompt=question(pair, text), completion=verdict, next_categories=())
                )
    train = training_order(
        train,
        config,
        f"no usable {JUDGE} example: {sum(len(p) for p in sets.values())} pairs, {skipped} overlapping "
        "the measured sets (the catalogue needs titled, categorised, branded items and users with two "
        "categorised interactions)",
    )
    random.Random(config.seed).shuffle(validation)
    return TrainingData(
        agent=JUDGE,
        train=train,
        validation=validation,
        fingerprint=fingerprint([*train, *validation], config, catalogue_fingerprint),
        users={"training_logs": len(training_logs), "kept_apart": len(kept_apart_users)},
        skipped={"overlapping_measured": skipped},
    )


def build_from_catalogue(catalogue: Path, config: DataConfig, pairs_per_set: int = 1000) -> TrainingData:
    inputs = read_catalogue(catalogue)
    return build(inputs.histories, list(inputs.items.values()), config, inputs.fingerprint, pairs_per_set)
