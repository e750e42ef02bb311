"""Fusion weights chosen by cross-fitting over folds of validation users instead of one argmax.

One argmax over a grid on a few hundred validation users flips between runs: neighbouring grid points score
within noise of each other. Each candidate is scored on k folds of the validation users (a hash of the user
id); the choice is the best *smoothed* mean: each candidate's mean over folds averaged with its grid
neighbours' (L-infinity distance of one step). A lone spike next to poor neighbours loses to the centre of a
broad plateau, which is what a new sample of users is likely to reward too. Cross-fitting, choosing on k-1
folds and scoring on the one left out, then says how well that rule does on users it did not choose on and
how much its choice moves: both are kept in the artefact.

A choice that departs from a default (recgpt-v1's tag route taking weight from the baseline) must also
*significantly* beat it: its per-user gain over the default, R@10 + R@50 user by user, larger than
`GAIN_STANDARD_ERRORS` standard errors. Otherwise the default stands, so a variant equals the baseline unless
the validation users show, beyond their noise, that it adds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recgpt_domain.towers.artefact import FusionSpread

Scores = npt.NDArray[np.float64]  # (folds, candidates): R@10 + R@50 of each candidate on each fold
MISSED = 1 << 30
# How many standard errors of the per-user difference a departure from the default must gain by.
GAIN_STANDARD_ERRORS = 2.0


@dataclass(frozen=True)
class Candidate:
    """One point of a weight grid: its name, and its coordinates (what neighbours are measured on)."""

    name: str
    point: tuple[float, ...]


def fold_of(user_id: str, folds: int) -> int:
    """Stable across runs: a hash of the id, independent of the validation slice's own hash."""
    digest = hashlib.sha256(f"fold:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % folds


def fold_scores(ranks: npt.NDArray[np.int64], fold_index: npt.NDArray[np.int64], folds: int) -> Scores:
    """R@10 + R@50 per fold from each candidate's target ranks, shaped (candidates, users)."""
    out = np.zeros((folds, ranks.shape[0]))
    for fold in range(folds):
        members = ranks[:, fold_index == fold]
        if members.shape[1]:
            out[fold] = (members < 10).mean(axis=1) + (members < 50).mean(axis=1)
    return out


def neighbours(candidates: Sequence[Candidate], step: float) -> list[list[int]]:
    """Each candidate's grid neighbours within one step, itself included."""
    points = np.asarray([c.point for c in candidates], dtype=np.float64)
    distance = np.abs(points[:, None, :] - points[None, :, :]).max(axis=2)
    return [list(np.flatnonzero(row <= step + 1e-9)) for row in distance]


def pick(scores: Scores, near: Sequence[Sequence[int]]) -> int:
    """The candidate whose neighbourhood's mean score over folds is best (the first, as listed, on ties)."""
    mean = scores.mean(axis=0)
    smoothed = np.asarray([mean[list(group)].mean() for group in near])
    return int(np.flatnonzero(smoothed >= smoothed.max() - 1e-12)[0])


@dataclass(frozen=True)
class Choice:
    index: int
    spread: FusionSpread


def choose(scores: Scores, candidates: Sequence[Candidate], step: float) -> Choice:
    """The choice on all folds, each fold's score at it, and the held-out score of each fold's own choice."""
    near = neighbours(candidates, step)
    chosen = pick(scores, near)
    held_out: list[float] = []
    held_out_choices: list[str] = []
    folds = scores.shape[0]
    if folds > 1:
        for fold in range(folds):
            others = pick(np.delete(scores, fold, axis=0), near)
            held_out.append(float(scores[fold, others]))
            held_out_choices.append(candidates[others].name)
    return Choice(
        chosen,
        FusionSpread(
            choice=candidates[chosen].name,
            per_fold=[float(score) for score in scores[:, chosen]],
            held_out=held_out,
            held_out_choices=held_out_choices,
        ),
    )


@dataclass(frozen=True)
class Gain:
    """A candidate's mean per-user gain over the default (hits at 10 plus at 50) and its standard error."""

    mean: float
    standard_error: float

    def significant(self, standard_errors: float = GAIN_STANDARD_ERRORS) -> bool:
        return self.mean > standard_errors * self.standard_error


def gain_over(candidate: npt.NDArray[np.int64], default: npt.NDArray[np.int64]) -> Gain:
    """Per-user paired difference of two target-rank arrays, scored as R@10 + R@50 user by user."""
    difference = ((candidate < 10).astype(np.float64) + (candidate < 50)) - (
        (default < 10).astype(np.float64) + (default < 50)
    )
    if difference.size < 2:
        return Gain(float(difference.mean()) if difference.size else 0.0, float("inf"))
    return Gain(float(difference.mean()), float(difference.std(ddof=1) / np.sqrt(difference.size)))
