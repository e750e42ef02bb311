"""How fast and how faithful served user vectors are: `python -m retrieval.bench_user_vectors --catalogue DIR
--towers DIR`.

Not a test: for every user of the catalogue's behaviour log, the user vector as retrieval serves it (one
user at a time, the most recent items the tower reads) from torch, from numpy and from the cache, timed per
call in wall and in CPU seconds (the machine may be shared); then how often the learned route's top 50 (seen
items left out, as `UserRoutes` does) is the same from numpy's vectors as from torch's.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from recgpt_domain.catalogue import iter_histories, read_items
from recgpt_domain.towers import artefact
from recgpt_domain.towers.learned_model import Vectors
from retrieval.learned_route import UserVectorSettings, load_served

TOP_K = 50


@dataclass
class Timings:
    walls: list[float]
    cpu: list[float]

    def line(self, name: str) -> str:
        def ms(values: list[float], at: float) -> float:
            return sorted(values)[int(at * (len(values) - 1))] * 1000

        return (
            f"  {name:<30} wall p50 {ms(self.walls, 0.5):6.3f} p99 {ms(self.walls, 0.99):6.3f} ms   "
            f"CPU p50 {ms(self.cpu, 0.5):6.3f} p99 {ms(self.cpu, 0.99):6.3f} ms"
        )


def timed(call: Callable[[int], Vectors], count: int) -> tuple[Vectors, Timings]:
    """Every call's vector, wall and CPU seconds (this thread's: the machine may be shared)."""
    for number in range(min(20, count)):
        call(number)
    vectors, timings = [], Timings([], [])
    for number in range(count):
        wall, cpu = time.perf_counter(), time.thread_time()
        vectors.append(call(number))
        timings.cpu.append(time.thread_time() - cpu)
        timings.walls.append(time.perf_counter() - wall)
    return np.concatenate(vectors), timings


def top(vectors: Vectors, items: Vectors, seen: Sequence[Sequence[int]]) -> npt.NDArray[np.int64]:
    scores = vectors @ items.T
    for line, rows in enumerate(seen):
        scores[line, list(rows)] = -np.inf
    best = np.argpartition(-scores, TOP_K, axis=1)[:, :TOP_K]
    order = np.take_along_axis(scores, best, axis=1).argsort(axis=1, kind="stable")[:, ::-1]
    return np.take_along_axis(best, order, axis=1)


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)  # as the service does (LearnedRoute)
    item_ids = [item.item_id for item in read_items(args.catalogue)]
    folder = artefact.latest(args.towers)
    if folder is None:
        raise SystemExit(f"no towers artefact under {args.towers} (make train-retrieval)")
    started = time.perf_counter()
    users = UserVectorSettings(runtime="numpy", threads=args.threads, cache_size=args.users)
    served = load_served(folder, item_ids, use_gpu=False, users=users)
    print(f"artefact {served.version} loaded and checked in {time.perf_counter() - started:.1f} s")
    model = served.model
    row_of = {item_id: row for row, item_id in enumerate(item_ids)}
    # Most recent first, as the behaviour log gives them; users without a known item get popular items.
    histories = [
        [row_of[i.item_id] for i in reversed(history.interactions) if i.item_id in row_of]
        for history in iter_histories(args.catalogue)
    ]
    histories = [rows for rows in histories if rows][: args.users]
    count = len(histories)
    load = os.getloadavg()[0]
    print(f"{count} users, {model.dimension}-d vectors, {os.cpu_count()} CPUs, load {load:.1f}")
    max_len = model.config.max_len

    def window(number: int) -> list[int]:
        return list(reversed(histories[number][:max_len]))

    reference, torch_timings = timed(lambda number: model.user_vectors([window(number)]), count)
    fast, numpy_timings = timed(lambda number: served.encode([window(number)]), count)
    for number in range(count):
        served.user_vector(histories[number], f"user-{number}")
    cached, cache_timings = timed(
        lambda number: served.user_vector(histories[number], f"user-{number}"), count
    )
    print("one user vector (one user per call)")
    print(torch_timings.line("torch (as trained)"))
    print(numpy_timings.line("numpy (served)"))
    print(cache_timings.line("cache hit (fingerprint + get)"))
    difference = np.abs(fast - reference).max()
    cosine = (fast * reference).sum(axis=1)
    cosine /= np.linalg.norm(fast, axis=1) * np.linalg.norm(reference, axis=1)
    assert np.array_equal(cached, fast)
    seen = histories
    torch_top = top(reference, model.item_vectors, seen)
    numpy_top = top(fast, model.item_vectors, seen)
    same_set = np.mean([set(a) == set(b) for a, b in zip(torch_top, numpy_top, strict=True)])
    same_order = np.mean([np.array_equal(a, b) for a, b in zip(torch_top, numpy_top, strict=True)])
    print(f"numpy against torch over {count} users: largest difference {difference:.2e}, ", end="")
    print(f"lowest cosine {cosine.min():.7f}")
    print(f"  same top {TOP_K} (seen items left out): {same_set:.2%} of users", end="")
    print(f"; in the same order: {same_order:.2%}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m retrieval.bench_user_vectors", description=__doc__)
    parser.add_argument(
        "--catalogue", type=Path, required=True, help="catalogue folder (recgpt-import --out)"
    )
    parser.add_argument("--towers", type=Path, required=True, help="towers artefacts folder (LATEST is used)")
    parser.add_argument("--users", type=int, default=100_000, help="at most this many users")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)
    run(args)


if __name__ == "__main__":
    main()
