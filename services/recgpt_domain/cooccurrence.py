"""Item co-occurrence in the behaviour log: the collaborative route's neighbours and the popular fallback.

Built offline from users' chronological sequences: items up to `window` positions apart co-occur with
weight 1/distance, summed over users and divided by count_a^seed_exponent · count_b^neighbour_exponent.
The top `top_n` neighbours of each item are kept.

The exponents were measured on Amazon Scientific's users (docs/results, the retrieval figures over splits):
cosine-like normalisation (0.5, 0.5) keeps best-sellers from neighbouring everything but loses a fifth of
Recall@10 against (0.3, 0): people do buy what others bought next, popular or not, and a seed's
own popularity only needs damping so that one best-seller among the recent items does not outweigh the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import numpy.typing as npt

from recgpt_domain.catalogue import UserHistory

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float32]

WINDOW = 5
NEIGHBOURS = 100
SEED_EXPONENT = 0.3
NEIGHBOUR_EXPONENT = 0.0


@dataclass(frozen=True)
class CoOccurrence:
    # (items, top_n): neighbour rows, best first, padded with -1; weights padded with 0.
    neighbours: npt.NDArray[np.int32]
    weights: Floats
    # Interactions per item in the behaviour log.
    popularity: Floats

    @cached_property
    def popular_order(self) -> Ints:
        """Rows by interactions, most first; computed once."""
        return np.argsort(-self.popularity, kind="stable")

    def recommend(self, seeds: Sequence[int], decay: float) -> tuple[Ints, Floats]:
        """Neighbour rows of the seeds (most recent first) and their recency-weighted mean weight."""
        if not seeds:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        recency = np.power(decay, np.arange(len(seeds), dtype=np.float64))
        seed_rows = np.asarray(seeds, dtype=np.int64)
        neighbours = self.neighbours[seed_rows]
        weighted = self.weights[seed_rows].astype(np.float64) * recency[:, None]
        valid = neighbours >= 0
        rows, inverse = np.unique(neighbours[valid], return_inverse=True)
        sums = np.bincount(inverse, weights=weighted[valid], minlength=rows.size)
        return rows.astype(np.int64), (sums / recency.sum()).astype(np.float32)


def _sequences(histories: Iterable[UserHistory], row_of: Mapping[str, int]) -> tuple[Ints, Ints, int, int]:
    """Every known interaction as (row, user number), in order; plus users and interactions counted."""
    rows: list[int] = []
    owners: list[int] = []
    users = 0
    interactions = 0
    for user, history in enumerate(histories):
        users += 1
        interactions += len(history.interactions)
        for interaction in history.interactions:
            row = row_of.get(interaction.item_id)
            if row is not None:
                rows.append(row)
                owners.append(user)
    return (
        np.asarray(rows, dtype=np.int64),
        np.asarray(owners, dtype=np.int64),
        users,
        interactions,
    )


def build(
    histories: Iterable[UserHistory],
    row_of: Mapping[str, int],
    window: int = WINDOW,
    top_n: int = NEIGHBOURS,
    seed_exponent: float = SEED_EXPONENT,
    neighbour_exponent: float = NEIGHBOUR_EXPONENT,
) -> tuple[CoOccurrence, int, int]:
    """The co-occurrence table over the catalogue's rows; also returns users and interactions read."""
    size = len(row_of)
    rows, owners, users, interactions = _sequences(histories, row_of)
    keys: list[Ints] = []
    pair_weights: list[npt.NDArray[np.float64]] = []
    for distance in range(1, window + 1):
        same_user = owners[:-distance] == owners[distance:]
        first, second = rows[:-distance][same_user], rows[distance:][same_user]
        distinct = first != second
        first, second = first[distinct], second[distinct]
        keys += [first * size + second, second * size + first]
        weight = np.full(first.size * 2, 1.0 / distance)
        pair_weights.append(weight)
    popularity = np.bincount(rows, minlength=size).astype(np.float32)
    neighbours = np.full((size, top_n), -1, dtype=np.int32)
    weights = np.zeros((size, top_n), dtype=np.float32)
    all_keys = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
    if all_keys.size:
        pairs, inverse = np.unique(all_keys, return_inverse=True)
        totals: npt.NDArray[np.float64] = np.bincount(inverse, weights=np.concatenate(pair_weights)).astype(
            np.float64
        )
        first, second = pairs // size, pairs % size
        counts = popularity.astype(np.float64)
        totals /= np.power(counts[first], seed_exponent) * np.power(counts[second], neighbour_exponent)
        order = np.lexsort((-totals, first))
        first, second, totals = first[order], second[order], totals[order]
        starts = np.r_[0, np.flatnonzero(np.diff(first)) + 1]
        rank = np.arange(first.size) - np.repeat(starts, np.diff(np.r_[starts, first.size]))
        keep = rank < top_n
        neighbours[first[keep], rank[keep]] = second[keep]
        weights[first[keep], rank[keep]] = totals[keep]
    table = CoOccurrence(neighbours=neighbours, weights=weights, popularity=popularity)
    return table, users, interactions


def save(table: CoOccurrence, path: Path) -> None:
    with path.open("wb") as handle:
        np.savez(
            handle,
            neighbours=table.neighbours,
            weights=table.weights,
            popularity=table.popularity,
        )


def load(path: Path, items: int) -> CoOccurrence:
    """Reads a saved table; raises ValueError when its shape does not fit `items` rows."""
    with np.load(path, allow_pickle=False) as arrays:
        table = CoOccurrence(
            neighbours=arrays["neighbours"].astype(np.int32, copy=False),
            weights=arrays["weights"].astype(np.float32, copy=False),
            popularity=arrays["popularity"].astype(np.float32, copy=False),
        )
    n_rows, top_n = table.neighbours.shape
    if n_rows != items or table.weights.shape != (items, top_n) or table.popularity.shape != (items,):
        raise ValueError(f"co-occurrence table shaped for {n_rows} items, the index has {items}")
    if table.neighbours.size and (table.neighbours.max() >= items or table.neighbours.min() < -1):
        raise ValueError("co-occurrence neighbours point outside the catalogue")
    return table
