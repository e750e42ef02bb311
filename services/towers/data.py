"""A dataset directory (published formats) turned into what the towers train on: item rows, sequences, labels.

Each user's last interaction is never trained on (it is the evaluation's target). A validation slice of
users, chosen by a hash of the user id, also keeps its second-to-last interaction out of training: predicting
it from the rest picks the epoch and the fusion weights, so no evaluation target decides anything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from recgpt_domain.catalogue import Item, UserHistory
from recgpt_domain.datasets import formats
from recgpt_domain.datasets.importer import source_fingerprint


class TrainingDataError(ValueError):
    """The dataset cannot train a model (no usable users, no items); the message says why."""


@dataclass(frozen=True)
class Example:
    """A user's input sequence (item rows, oldest first) and the row to predict after it."""

    user_id: str
    history: list[int]
    target: int


@dataclass(frozen=True)
class TrainingData:
    items: list[Item]
    # Rows of each trained sequence, oldest first (every prefix step is a training example).
    sequences: list[list[int]]
    validation: list[Example]
    # Level-2 category index of each item row (the L_category label) and the category names.
    item_category: list[int]
    categories: list[str]
    # Tag texts (the L_tag queries) and, per item row, the indexes of its tags.
    tags: list[str]
    item_tags: list[list[int]]
    fingerprint: str
    skipped_users: int

    @property
    def item_ids(self) -> list[str]:
        return [item.item_id for item in self.items]


def in_validation_slice(user_id: str, share: float) -> bool:
    """Stable across runs and machines: the first bytes of the id's sha256 against the share."""
    digest = hashlib.sha256(user_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def category_of(item: Item) -> str:
    """The level-2 category (the first below the root), else the root, else a placeholder."""
    path = item.category_path
    if len(path) >= 2:
        return path[1]
    return path[0] if path else "(none)"


def item_tag_texts(item: Item) -> list[str]:
    """Tags an item answers to, from its own attributes: its most specific category and the deeper path."""
    tags = [item.category] if item.category else []
    if len(item.category_path) >= 3:
        tags.append(" ".join(item.category_path[2:]))
    if item.description.startswith("Genres:"):
        genres = item.description.split(".", 1)[0].removeprefix("Genres:")
        tags += [genre.strip() for genre in genres.split(",") if genre.strip()]
    return list(dict.fromkeys(tag for tag in tags if tag))


def rows_of(histories: Sequence[UserHistory], row_of: dict[str, int]) -> list[tuple[str, list[int]]]:
    """Each user's interactions as catalogue rows, unknown items dropped."""
    return [
        (history.user_id, [row_of[i.item_id] for i in history.interactions if i.item_id in row_of])
        for history in histories
    ]


def read_dataset(source: Path) -> tuple[list[Item], list[UserHistory], str]:
    """Items, histories and the data fingerprint (source files and importer version) of a dataset dir."""
    fmt = formats.resolve_format(source)
    dataset = formats.read(source, fmt)
    if not dataset.items:
        raise TrainingDataError(f"{source}: no items")
    return dataset.items, dataset.histories, source_fingerprint(source, fmt)


def build(source: Path, validation_share: float) -> TrainingData:
    items, histories, fingerprint = read_dataset(source)
    row_of = {item.item_id: row for row, item in enumerate(items)}
    sequences: list[list[int]] = []
    validation: list[Example] = []
    skipped = 0
    for user_id, rows in rows_of(histories, row_of):
        trainable = rows[:-1]  # the last interaction is the evaluation's target
        if in_validation_slice(user_id, validation_share) and len(trainable) >= 2:
            validation.append(Example(user_id, trainable[:-1], trainable[-1]))
            trainable = trainable[:-1]
        if len(trainable) < 2:
            skipped += 1
            continue
        sequences.append(trainable)
    if not sequences:
        raise TrainingDataError(
            f"{source}: no user has three or more interactions (the last is held out; training needs two)"
        )
    categories = sorted({category_of(item) for item in items})
    category_index = {name: index for index, name in enumerate(categories)}
    tag_index: dict[str, int] = {}
    item_tags = [
        [tag_index.setdefault(tag, len(tag_index)) for tag in item_tag_texts(item)] for item in items
    ]
    return TrainingData(
        items=items,
        sequences=sequences,
        validation=validation,
        item_category=[category_index[category_of(item)] for item in items],
        categories=categories,
        tags=list(tag_index),
        item_tags=item_tags,
        fingerprint=fingerprint,
        skipped_users=skipped,
    )
