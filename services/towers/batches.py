"""Training batches: sequences cut into right-aligned windows, with per-position targets and labels."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from recgpt_domain.towers.model import Negatives, right_aligned

# Batches of windows sorted by length together (a bucket): more is less padding, less randomness.
_BUCKET_BATCHES = 32


@dataclass(frozen=True)
class Batch:
    inputs: torch.Tensor  # (batch, length) item rows, 0 where empty
    padding: torch.Tensor  # (batch, length) True where empty
    targets: torch.Tensor  # (positions,) the next item of each non-empty position
    categories: torch.Tensor  # (positions,) the target's category
    tags: torch.Tensor  # (positions,) one of the target's tags, drawn per batch; -1 for none


def windows(sequences: Sequence[Sequence[int]], max_len: int) -> list[list[int]]:
    """Each sequence cut from its end into windows of max_len + 1 items (inputs plus the next item)."""
    out: list[list[int]] = []
    for sequence in sequences:
        end = len(sequence)
        while end >= 2:
            start = max(0, end - max_len - 1)
            out.append(list(sequence[start:end]))
            end = start + 1 if start > 0 else 0
    return out


class TagSampler:
    """Draws one tag of each target item (items with several tags contribute each in turn)."""

    def __init__(self, item_tags: Sequence[Sequence[int]]) -> None:
        width = max(1, max((len(tags) for tags in item_tags), default=1))
        self.table = torch.full((len(item_tags), width), -1, dtype=torch.long)
        for row, tags in enumerate(item_tags):
            if tags:
                self.table[row, : len(tags)] = torch.tensor(list(tags))
        self.counts = torch.tensor([len(tags) for tags in item_tags], dtype=torch.long)

    def draw(self, items: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        counts = self.counts[items]
        pick = (torch.rand(items.shape, generator=generator) * counts.clamp(min=1)).long()
        drawn = self.table[items, pick]
        return torch.where(counts > 0, drawn, torch.full_like(drawn, -1))


class Proposal:
    """Where a sampled softmax draws its negatives: item counts in the training sequences, smoothed by one
    and flattened by a power (word2vec's 0.75): popular items drawn more often, the tail not crowded out."""

    def __init__(self, counts: torch.Tensor, draws: int, power: float = 0.75) -> None:
        weights = (counts.double() + 1.0) ** power
        self.probabilities = (weights / weights.sum()).float()
        self.draws = draws
        self.log_expected = torch.log(self.probabilities * draws)

    @classmethod
    def of(cls, sequences: Sequence[Sequence[int]], items: int, draws: int) -> Proposal:
        counts = torch.zeros(items, dtype=torch.long)
        for sequence in sequences:
            counts += torch.bincount(torch.tensor(list(sequence), dtype=torch.long), minlength=items)
        return cls(counts, draws)

    def draw(self, generator: torch.Generator) -> Negatives:
        rows = torch.multinomial(self.probabilities, self.draws, replacement=True, generator=generator)
        return Negatives(rows, self.log_expected)


def batches(
    chunks: Sequence[Sequence[int]],
    batch_size: int,
    item_category: torch.Tensor,
    tags: TagSampler,
    generator: torch.Generator,
    rank: int = 0,
    world: int = 1,
) -> Iterator[Batch]:
    """One epoch, shuffled by `generator`; with several processes each takes its own equal share."""
    order = torch.randperm(len(chunks), generator=generator).tolist()
    per_process = len(order) // world
    mine = order[rank * per_process : (rank + 1) * per_process]
    # Windows of like length share a batch (little padding); the batches themselves come in random order.
    groups: list[list[int]] = []
    for start in range(0, len(mine), batch_size * _BUCKET_BATCHES):
        bucket = sorted(mine[start : start + batch_size * _BUCKET_BATCHES], key=lambda i: len(chunks[i]))
        groups += [bucket[offset : offset + batch_size] for offset in range(0, len(bucket), batch_size)]
    for group in torch.randperm(len(groups), generator=generator).tolist():
        picked = [chunks[index] for index in groups[group]]
        inputs, padding = right_aligned([chunk[:-1] for chunk in picked], len(max(picked, key=len)) - 1)
        following, _ = right_aligned([chunk[1:] for chunk in picked], inputs.shape[1])
        targets = following[~padding]
        yield Batch(inputs, padding, targets, item_category[targets], tags.draw(targets, generator))
