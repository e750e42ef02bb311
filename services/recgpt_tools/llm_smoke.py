"""`recgpt-llm-smoke`: one structured request to a running vLLM worker, to see that the LLM path works."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from pydantic import BaseModel, Field, ValidationError

from recgpt_serving.llm.client import LlmClient, LlmResult, LlmSettings
from recgpt_serving.llm.errors import LlmError


class Interest(BaseModel):
    interest: str = Field(min_length=1, max_length=80)
    reason: str = Field(min_length=1, max_length=200)


class Interests(BaseModel):
    interests: list[Interest] = Field(min_length=1, max_length=5)


MESSAGES = [
    {
        "role": "system",
        "content": "You infer a shopper's interests from their purchases. Answer in JSON.",
    },
    {
        "role": "user",
        "content": (
            "List three interests of a user who bought a soldering iron, flux and a multimeter. "
            "Give each interest a short reason."
        ),
    },
]


async def ask(settings: LlmSettings) -> LlmResult[Interests]:
    async with LlmClient(settings) as client:
        return await client.structured("smoke", MESSAGES, Interests, max_tokens=200)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="recgpt-llm-smoke",
        description="Send one JSON-schema request to a vLLM worker and print the parsed answer.",
    )
    parser.add_argument("--endpoint", help="worker API root, e.g. http://127.0.0.1:8100/v1 "
                        "(default: RECGPT_LLM_ENDPOINTS)")  # fmt: skip
    parser.add_argument("--model", help="served model name (default: RECGPT_LLM_MODEL)")
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds (default 60)")
    args = parser.parse_args(argv)
    overrides: dict[str, object] = {"deadline_s": args.deadline}
    if args.endpoint:
        overrides["endpoints"] = args.endpoint
    if args.model:
        overrides["model"] = args.model
    try:
        settings = LlmSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        print(f"recgpt-llm-smoke: bad settings (give --endpoint or RECGPT_LLM_ENDPOINTS): {error}",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        result = asyncio.run(ask(settings))
    except LlmError as error:
        print(f"recgpt-llm-smoke: FAILED against {settings.endpoints}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result.value.model_dump(), indent=2, ensure_ascii=False))
    usage = result.usage
    rate = usage.completion_tokens / result.latency_s if result.latency_s > 0 else 0.0
    print(
        f"model={result.model} worker={result.worker} prompt_tokens={usage.prompt_tokens} "
        f"completion_tokens={usage.completion_tokens} latency_s={result.latency_s:.2f} "
        f"tokens_per_s={rate:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
