"""`python -m evaluation.bench_adapters`: serving throughput of the base model and of LoRA adapters.

Sends the same chat requests to each named model of one vLLM worker (the base name, an adapter's name) at a
fixed concurrency, every answer exactly `--tokens` long (`ignore_eos`), and prints requests/s and generated
tokens/s per model. Run it against an engine started without LoRA for the plain base figure.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import httpx
from pydantic import BaseModel

from recgpt_serving.llm import adapter_files
from recgpt_serving.llm.models import DEFAULT_MODEL_NAME

_PROMPT = "List product ideas for a shopper who buys soldering irons, solder wire and flux."


class Throughput(BaseModel):
    model: str
    requests: int
    failed: int
    concurrency: int
    seconds: float
    requests_per_s: float
    tokens_per_s: float


def prompt(index: int, words: int) -> str:
    """The request's text: distinct from its first word on (no prefix cache between requests), and `words`
    filler words long beside the short question, so that prefill weighs as in the agents' prompts."""
    filler = " ".join(f"w{(index * 7919 + k) % 5003}" for k in range(words))
    return f"#{index}: {_PROMPT} {filler}".rstrip()


async def run(
    http: httpx.AsyncClient,
    endpoint: str,
    model: str,
    requests: int,
    concurrency: int,
    tokens: int,
    prompt_words: int = 0,
) -> Throughput:
    slots = asyncio.Semaphore(concurrency)
    generated = failed = 0

    async def one(index: int) -> None:
        nonlocal generated, failed
        body = {
            "model": model,
            "messages": [{"role": "user", "content": prompt(index, prompt_words)}],
            "max_tokens": tokens,
            "temperature": 0.0,
            "ignore_eos": True,
        }
        async with slots:
            response = await http.post(f"{endpoint}/chat/completions", json=body)
        if response.status_code != 200:
            failed += 1
            return
        generated += int(response.json()["usage"]["completion_tokens"])

    # One request first: loading an adapter into the engine is not throughput.
    await one(-1)
    generated = failed = 0
    started = time.perf_counter()
    await asyncio.gather(*(one(index) for index in range(requests)))
    seconds = time.perf_counter() - started
    return Throughput(
        model=model,
        requests=requests,
        failed=failed,
        concurrency=concurrency,
        seconds=round(seconds, 2),
        requests_per_s=round((requests - failed) / seconds, 3),
        tokens_per_s=round(generated / seconds, 1),
    )


async def amain(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_adapters", description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="vLLM's OpenAI root, http://host:port/v1")
    parser.add_argument(
        "--models", default=DEFAULT_MODEL_NAME, help="comma-separated served names: the base, adapters"
    )
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument(
        "--prompt-words", type=int, default=0, help="filler words per prompt (the agents' prompts: 300-800)"
    )
    parser.add_argument("--label", default="", help="what the engine was started with, for the output")
    parser.add_argument("--load", action="append", default=[], help="NAME=FOLDER: load this adapter first")
    parser.add_argument("--adapters-dir", type=Path, default=None, help="also each agent's newest adapter")
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.adapters_dir is not None:
        for agent in adapter_files.agents(args.adapters_dir):
            found = adapter_files.versions(args.adapters_dir, agent)
            if found:
                args.load.append(f"{found[0].served_name}={found[0].folder.resolve()}")
                models.append(found[0].served_name)
    async with httpx.AsyncClient(timeout=600.0, trust_env=False) as http:
        for entry in args.load:
            name, _, folder = entry.partition("=")
            body = {"lora_name": name, "lora_path": folder}
            loaded = await http.post(f"{args.endpoint}/load_lora_adapter", json=body)
            if loaded.status_code != 200:
                print(f"error: {name} did not load: {loaded.text[:300]}", file=sys.stderr)
                return 1
        for model in models:
            figure = await run(
                http, args.endpoint, model, args.requests, args.concurrency, args.tokens, args.prompt_words
            )
            print(
                f"{args.label:<16}{figure.model:<32}{figure.requests_per_s:>8.2f} req/s"
                f"{figure.tokens_per_s:>9.1f} tok/s  ({figure.requests} x {args.tokens} tokens at "
                f"concurrency {figure.concurrency}, {args.prompt_words} filler words, "
                f"{figure.failed} failed, {figure.seconds} s)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(amain()))
