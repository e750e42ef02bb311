"""`python -m evaluation.feed.cli --dataset DIR --users N --out FILE`, the platform's addresses from the
environment (`recgpt-stack exec -- python -m evaluation.feed.cli ...` against the one `make run` started).

The platform must serve each user's log without its last interaction (`make eval-feed` starts it so): the
simulated users are drawn by the seed, each knows that held-out item, and the trajectories of every round go
to a JSONL file beside the report, for a later distillation step.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import httpx
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from evaluation.feed.report import aggregate, table
from evaluation.feed.runner import FeedEvaluator, UserOutcome
from evaluation.split import choose, eligible
from recgpt.retrieval.v1 import retrieval_pb2_grpc
from recgpt_domain.catalogue import iter_histories, read_items
from recgpt_domain.datasets.importer import import_dataset
from recgpt_domain.item_attributes import mean_ratings
from recgpt_serving import grpc_client, logs, service_names
from recgpt_serving.llm.client import LlmClient, LlmSettings

log = logging.getLogger(__name__)


class Platform(BaseSettings):
    """The running platform the simulated users talk to (`RECGPT_GATEWAY_URL` with the key
    `RECGPT_API_KEY`, `RECGPT_RETRIEVAL_TARGET`, and `RECGPT_VLLM_URL` for the LLM simulator)."""

    model_config = SettingsConfigDict(env_prefix="RECGPT_", extra="ignore", frozen=True)

    gateway_url: str = Field(min_length=1)
    # A key with the feed and recommend scopes (the development key); empty: the gateway checks none.
    api_key: SecretStr = SecretStr("")
    retrieval_target: str = Field(min_length=1)
    vllm_url: str | None = None

    def gateway_client(self, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
        """The gateway's callers' listener, every request presenting the key."""
        key = self.api_key.get_secret_value()
        return httpx.AsyncClient(
            base_url=self.gateway_url,
            headers={"authorization": f"Bearer {key}"} if key else None,
            timeout=30.0,
            transport=transport,
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eval-feed", description="RecBot's feed with simulated users.")
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--trajectories", type=Path, default=None, help="JSONL (default: OUT with .jsonl)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--simulator",
        choices=["templated", "llm"],
        default="templated",
        help="llm: the platform's vLLM writes the commands (templated where it fails or names the item)",
    )
    return parser


async def amain(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.users < 1 or args.concurrency < 1:
        print("error: --users and --concurrency must be at least 1", file=sys.stderr)
        return 2
    logs.configure("evaluation", "WARNING")
    try:
        state = Platform()
    except ValidationError as error:
        print(f"error: the platform's addresses (run it by `recgpt-stack exec`): {error}", file=sys.stderr)
        return 2
    if not state.api_key.get_secret_value():
        print(
            "warning: RECGPT_API_KEY is not set: a gateway that checks keys refuses every call",
            file=sys.stderr,
        )
    with tempfile.TemporaryDirectory(prefix="recgpt-eval-feed-") as scratch:
        catalogue = Path(scratch) / "catalogue"
        import_dataset(args.dataset, catalogue, "auto")
        items = {item.item_id: item for item in read_items(catalogue)}
        ratings = mean_ratings(catalogue)
        splits = choose(eligible(iter_histories(catalogue)), args.users, args.seed)
    splits = [split for split in splits if split.target.item_id in items]
    channel = grpc_client.channel(state.retrieval_target, service_names.RETRIEVAL)
    retrieval = retrieval_pb2_grpc.RetrievalServiceStub(channel)  # type: ignore[no-untyped-call]
    started = time.perf_counter()
    llm = None
    if args.simulator == "llm":
        if state.vllm_url is None:
            print("error: --simulator llm needs the platform's vLLM", file=sys.stderr)
            return 2
        endpoint = f"{state.vllm_url}/v1"
        llm = LlmClient(LlmSettings(endpoints=[endpoint], model=_served_model(endpoint)))
    async with state.gateway_client() as http:
        evaluator = FeedEvaluator(http, retrieval, items, ratings, llm=llm)
        slots = asyncio.Semaphore(args.concurrency)

        async def one(split: object) -> UserOutcome:
            async with slots:
                return await evaluator.evaluate(split)  # type: ignore[arg-type]

        outcomes = await asyncio.gather(*(one(split) for split in splits))
    await channel.close()
    if llm is not None:
        await llm.aclose()
    report = aggregate(
        outcomes,
        {
            "dataset": str(args.dataset),
            "seed": args.seed,
            "requested_users": args.users,
            "concurrency": args.concurrency,
            "simulator": args.simulator,
            "llm_simulator_commands": evaluator.llm_commands,
            "llm_simulator_commands_replaced_by_template": evaluator.llm_commands_replaced,
            "wall_s": round(time.perf_counter() - started, 1),
        },
    )
    print(table(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    trajectories = args.trajectories or args.out.with_suffix(".trajectories.jsonl")
    with trajectories.open("w") as handle:
        for outcome in outcomes:
            for record in outcome.trajectory:
                handle.write(json.dumps(record) + "\n")
    print(f"\nreport written to {args.out}, trajectories to {trajectories}")
    return 0 if report["users"]["evaluated"] else 1


def _served_model(endpoint: str) -> str:
    """The model name vLLM serves (the launcher names it after the model folder)."""
    answer = httpx.get(f"{endpoint}/models", timeout=10.0)
    answer.raise_for_status()
    return str(answer.json()["data"][0]["id"])


def main(argv: list[str] | None = None) -> None:
    sys.exit(asyncio.run(amain(argv)))


if __name__ == "__main__":
    main()
