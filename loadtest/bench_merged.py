"""LoRA on the shared engine, or merged into an engine of its own: an agent's serving cost both ways.

    python -m loadtest.bench_merged --stack var/run/stack.json --agent tag_expert --records var/llm-records

On the running platform (`RECGPT_STACK_MERGED_AGENTS=<agent> make run`), the same first N request bodies the
agent's service recorded (`RECGPT_LLM_RECORD_DIR`) are replayed by `nearline.replay`, at the same
concurrency: (a) to the shared engine naming the agent's adapter (loaded as LoRA first, unless it is), then
(b) to the agent's own engine naming its merged model. One request to each goes first and is not counted
(loading, first compilation). Prints each side's requests/s, p50/p95 latency and completion tokens/s and the
merged/LoRA ratios as one JSON line (also to --json-out). Measure on an otherwise idle platform: the
services' own calls would share the engines' cores. Exits 1 when a side had errors.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from agent_training.agents import UnknownAgent, resolve
from nearline.replay import ReplayReport, read_bodies, replay
from recgpt_serving.benchmarks import emit
from recgpt_serving.llm.client import LlmClient, LlmSettings
from recgpt_tools import registry, run_state
from recgpt_tools.merged_models import MERGED_DIR, MergedManifest, MergeError, read_merged
from recgpt_tools.run_state import RunState, RunStateError


class SetupError(Exception):
    """The benchmark cannot run; the message says why."""


@dataclass(frozen=True)
class Engines:
    """Where each side is served, and under which model name."""

    shared: str
    merged: str
    manifest: MergedManifest


async def engines(http: httpx.AsyncClient, state: RunState, agent: str, models_dir: Path) -> Engines:
    """The shared engine and the agent's own from the run state; the merged model from its engine."""
    if state.vllm_url is None:
        raise SetupError("the running platform has no LLM")
    own = state.urls.get(registry.merged_engine_name(agent))
    if own is None:
        raise SetupError(
            f"the running platform serves {agent} on no engine of its own: "
            f"`make stop`, then `RECGPT_STACK_MERGED_AGENTS={agent} make run`"
        )
    served = await served_models(http, f"{own}/v1")
    if len(served) != 1:
        raise SetupError(f"{own} serves {served}, not one merged model")
    try:
        manifest = read_merged(models_dir / MERGED_DIR / served[0])
    except MergeError as error:
        raise SetupError(str(error)) from None
    return Engines(shared=f"{state.vllm_url}/v1", merged=f"{own}/v1", manifest=manifest)


async def served_models(http: httpx.AsyncClient, endpoint: str) -> list[str]:
    try:
        response = await http.get(f"{endpoint}/models")
        response.raise_for_status()
        return [str(model["id"]) for model in response.json()["data"]]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
        raise SetupError(f"{endpoint}/models: {error}") from None


async def load_lora(
    http: httpx.AsyncClient, endpoint: str, manifest: MergedManifest, adapters_dir: Path
) -> str:
    """The adapter's served name on the shared engine, loaded as the agents load it unless it is already
    (vLLM refuses to load a name twice)."""
    if manifest.served_name in await served_models(http, endpoint):
        return manifest.served_name
    settings = LlmSettings(
        endpoints=[endpoint],
        model=manifest.base_model,
        adapters_dir=adapters_dir,
        agent_adapters={manifest.agent: manifest.adapter_version},
        # Not the agent's own engine, whatever this environment says: the LoRA side is the shared engine.
        agent_engines={},
        # The engine refuses a rank above its own --max-lora-rank; nothing is refused here before it.
        max_lora_rank=128,
    )
    async with LlmClient(settings) as client:
        served = await client.adapter_for(manifest.agent)
    if served != manifest.served_name:
        raise SetupError(f"the shared engine did not load {manifest.served_name} (the log above says why)")
    return served


async def measure(
    bodies: list[dict[str, Any]], endpoint: str, model: str, concurrency: int, timeout_s: float
) -> ReplayReport:
    await replay(bodies[:1], endpoint, 1, timeout_s, model)
    return await replay(bodies, endpoint, concurrency, timeout_s, model)


def side(report: ReplayReport, endpoint: str, model: str) -> dict[str, Any]:
    return {"endpoint": endpoint, "model": model, **report.model_dump()}


def ratio(merged: float, lora: float) -> float | None:
    return round(merged / lora, 3) if lora else None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    try:
        agent = resolve(args.agent)
        state = run_state.read(args.stack)
    except (UnknownAgent, RunStateError) as error:
        raise SetupError(str(error)) from None
    bodies = read_bodies(args.records, args.requests, [agent])
    if not bodies:
        raise SetupError(
            f"no recorded requests of {agent} in {args.records}/{agent}.jsonl: run the platform with "
            f"RECGPT_LLM_RECORD_DIR={args.records} and send it traffic that calls {agent}"
        )
    async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
        served = await engines(http, state, agent, args.models_dir)
        adapter = await load_lora(http, served.shared, served.manifest, args.adapters_dir)
    lora = await measure(bodies, served.shared, adapter, args.concurrency, args.timeout)
    print(f"LoRA on the shared engine ({adapter} at {served.shared}):\n{lora.text()}")
    merged = await measure(bodies, served.merged, served.manifest.served_name, args.concurrency, args.timeout)
    print(f"merged on its own engine ({served.manifest.served_name} at {served.merged}):\n{merged.text()}")
    return {
        "benchmark": "merged-vs-lora",
        "agent": agent,
        "adapter": served.manifest.served_name,
        "requests": len(bodies),
        "concurrency": args.concurrency,
        "lora": side(lora, served.shared, adapter),
        "merged": side(merged, served.merged, served.manifest.served_name),
        "merged_over_lora": {
            "requests_per_s": ratio(merged.requests_per_s, lora.requests_per_s),
            "latency_p50_s": ratio(merged.latency_p50_s, lora.latency_p50_s),
            "latency_p95_s": ratio(merged.latency_p95_s, lora.latency_p95_s),
            "completion_tokens_per_s": ratio(merged.completion_tokens_per_s, lora.completion_tokens_per_s),
        },
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.bench_merged",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--stack", type=Path, default=Path("var/run/stack.json"), help="the run state")
    parser.add_argument("--agent", required=True, help="tag_expert, ... (or experts, tags, ...)")
    parser.add_argument("--records", type=Path, default=Path("var/llm-records"), help="RECGPT_LLM_RECORD_DIR")
    parser.add_argument("--adapters-dir", type=Path, default=Path("var/adapters"))
    parser.add_argument("--models-dir", type=Path, default=Path("var/models"))
    parser.add_argument("--requests", type=int, default=200, help="the first N recorded requests")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per request")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1:
        parser.error("--requests and --concurrency must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        line = asyncio.run(run(args))
    except SetupError as error:
        sys.exit(f"bench-merged: {error}")
    emit(line, args.json_out)
    if line["lora"]["errors"] or line["merged"]["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
