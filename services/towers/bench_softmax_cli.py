"""Seconds per training step of the towers, full softmax against sampled, on synthetic catalogues.

Why the trainer samples beyond `FULL_SOFTMAX_MAX_ITEMS`: a full softmax embeds every item and scores every
position against every item at each step, so its time and its logits' memory grow with the catalogue, while
a sampled one embeds only the batch's and the drawn items. Random text vectors stand in for MiniLM's; the
figure is the step's cost, not a model's quality. A full softmax whose logits would not fit `--max-logits-gib`
is reported as skipped with the memory it would need.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from recgpt_domain.towers.model import TowerConfig, Towers, right_aligned
from towers.batches import Proposal
from towers.train import FULL_SOFTMAX_MAX_ITEMS

TEXT_DIM = 384


def _batch(items: int, batch_size: int, length: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    windows = torch.randint(0, items, (batch_size, length + 1), generator=generator).tolist()
    inputs, padding = right_aligned([w[:-1] for w in windows], length)
    following, _ = right_aligned([w[1:] for w in windows], length)
    targets = following[~padding]
    return inputs, padding, targets, targets % 50, torch.full_like(targets, -1)


def step_seconds(
    model: Towers, items: int, proposal: Proposal | None, args: argparse.Namespace
) -> list[float]:
    generator = torch.Generator().manual_seed(0)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    out = []
    for _ in range(args.warmup + args.steps):
        batch = _batch(items, args.batch_size, args.length, generator)
        started = time.perf_counter()
        loss = model(*batch, proposal.draw(generator) if proposal is not None else None)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        out.append(time.perf_counter() - started)
    return out[args.warmup :]


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.threads:
        torch.set_num_threads(args.threads)
    rows: list[dict[str, Any]] = []
    for items in args.items:
        text = torch.randn(items, TEXT_DIM)
        tags, categories = torch.randn(10, TEXT_DIM), torch.randn(50, TEXT_DIM)
        model = Towers(TowerConfig(dim=args.dim), text, text, tags, categories)
        model.train()
        positions = args.batch_size * args.length
        logits_gib = positions * items * 4 * 3 / 2**30  # logits, their softmax and its gradient, float32
        for softmax in ("full", "sampled"):
            row: dict[str, Any] = {"items": items, "softmax": softmax}
            if softmax == "full" and logits_gib > args.max_logits_gib:
                row["skipped"] = f"needs about {logits_gib:.1f} GiB for its logits"
            else:
                proposal = Proposal(torch.ones(items), args.negatives) if softmax == "sampled" else None
                seconds = sorted(step_seconds(model, items, proposal, args))
                row["median_step_seconds"] = seconds[len(seconds) // 2]
                if softmax == "sampled":
                    row["negatives"] = args.negatives
            rows.append(row)
            print(json.dumps(row), flush=True)
    return {
        "batch_size": args.batch_size,
        "length": args.length,
        "dim": args.dim,
        "full_softmax_max_items": FULL_SOFTMAX_MAX_ITEMS,
        "threads": torch.get_num_threads(),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="towers.bench_softmax_cli", description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, nargs="+", default=[4_385, 100_000, 1_000_000])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--length", type=int, default=20, help="positions per window")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--negatives", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch decides)")
    parser.add_argument("--max-logits-gib", type=float, default=8.0)
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)
    report = run(args)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
