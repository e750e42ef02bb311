"""New arm weights that move as few users as possible: users of an arm that keeps or grows its share stay."""

from __future__ import annotations

from experiments.config import BUCKETS, Arm, BucketRange, Experiment


def reweight(experiment: Experiment, weights: dict[str, float]) -> Experiment:
    """The experiment with each arm's buckets resized to `weights` (arm -> share, summing to 1).

    A shrinking arm gives up buckets from the end of its ranges; a growing arm takes exactly the freed
    buckets. So only the shifted share of users moves, and only from shrinking arms to growing ones.
    """
    names = [arm.name for arm in experiment.arms]
    if set(weights) != set(names):
        raise ValueError(f"weights must name every arm exactly: {names}")
    if any(w <= 0 for w in weights.values()) or abs(sum(weights.values()) - 1) > 1e-9:
        raise ValueError("weights must be positive and sum to 1")
    targets = _bucket_counts(names, weights)
    kept: dict[str, list[BucketRange]] = {}
    freed: list[tuple[int, int]] = []
    for arm in experiment.arms:
        ranges, given_up = _shrink(arm.buckets, targets[arm.name])
        kept[arm.name] = ranges
        freed += given_up
    freed.sort()
    arms: list[Arm] = []
    for arm in experiment.arms:
        ranges = list(kept[arm.name])
        missing = targets[arm.name] - sum(r.size for r in ranges)
        while missing > 0:
            start, end = freed.pop(0)
            take = min(missing, end - start)
            ranges.append(BucketRange(start=start, end=start + take))
            if start + take < end:
                freed.insert(0, (start + take, end))
            missing -= take
        arms.append(arm.model_copy(update={"buckets": _merge(ranges)}))
    return experiment.model_copy(update={"arms": arms})


def _bucket_counts(names: list[str], weights: dict[str, float]) -> dict[str, int]:
    """Whole buckets per arm summing to BUCKETS (largest remainder)."""
    exact = {name: weights[name] * BUCKETS for name in names}
    counts = {name: int(value) for name, value in exact.items()}
    short = BUCKETS - sum(counts.values())
    for name in sorted(names, key=lambda n: exact[n] - counts[n], reverse=True)[:short]:
        counts[name] += 1
    return counts


def _shrink(ranges: list[BucketRange], target: int) -> tuple[list[BucketRange], list[tuple[int, int]]]:
    kept: list[BucketRange] = []
    freed: list[tuple[int, int]] = []
    left = target
    for r in sorted(ranges, key=lambda r: r.start):
        if left >= r.size:
            kept.append(r)
            left -= r.size
        elif left > 0:
            kept.append(BucketRange(start=r.start, end=r.start + left))
            freed.append((r.start + left, r.end))
            left = 0
        else:
            freed.append((r.start, r.end))
    return kept, freed


def _merge(ranges: list[BucketRange]) -> list[BucketRange]:
    merged: list[BucketRange] = []
    for r in sorted(ranges, key=lambda r: r.start):
        if merged and merged[-1].end == r.start:
            merged[-1] = BucketRange(start=merged[-1].start, end=r.end)
        else:
            merged.append(r)
    return merged
