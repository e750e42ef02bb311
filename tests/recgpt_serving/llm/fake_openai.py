"""A fake OpenAI-compatible chat server for unit tests of the LLM client: scripted answers and failures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

Mode = Literal["answer", "status", "hang_before_headers", "hang_after_headers", "drop"]


def numbered_list(body: dict[str, Any]) -> dict[int, str]:
    """The numbered list in the request's last message (number -> name), as the choosing agents' prompts
    write it (`recgpt_domain.tag_choice.numbered`); a prompt with entity tokens is read by its text parts."""
    content = body["messages"][-1]["content"]
    if isinstance(content, list):
        content = "".join(part.get("text", "") for part in content)
    pairs = (line.split(". ", 1) for line in content.splitlines() if line.split(". ", 1)[0].isdigit())
    return {int(number): name for number, name in pairs}


@dataclass
class Behaviour:
    """What the next requests get; tests change it between calls."""

    mode: Mode = "answer"
    content: str | None = '{"name": "ok"}'
    status: int = 200
    latency_s: float = 0.0
    prompt_tokens: int = 12
    completion_tokens: int = 7
    finish_reason: str = "stop"
    # When set, the answer's content is computed from the request body (multi-call agents).
    respond: Callable[[dict[str, Any]], str | None] | None = None
    # Prompt logprob of each token of the assistant's last turn (prompt_logprobs requests), from the body.
    token_logprob: Callable[[dict[str, Any]], float] = lambda body: -1.0
    # The first generated token's alternatives (logprobs requests), from the body; None: no logprobs.
    first_token_logprobs: Callable[[dict[str, Any]], dict[str, float]] | None = None
    # HTTP status of /v1/load_lora_adapter (vLLM answers 200, or 4xx/5xx naming the problem).
    adapter_load_status: int = 200
    # Answer 400 to content parts of type prompt_embeds, as vLLM does without --enable-prompt-embeds.
    refuse_prompt_embeds: bool = False


@dataclass
class Seen:
    headers: dict[str, str]  # names in lower case
    body: dict[str, Any]


@dataclass
class FakeOpenAI:
    behaviour: Behaviour = field(default_factory=Behaviour)
    seen: list[Seen] = field(default_factory=list)
    # Bodies of /v1/load_lora_adapter requests, in order.
    adapter_loads: list[dict[str, Any]] = field(default_factory=list)
    # What GET /v1/models lists (vLLM: the served model, then each LoRA adapter loaded).
    models: list[str] = field(default_factory=lambda: ["fake-model"])
    base_url: str = ""
    _runner: web.AppRunner | None = None
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/load_lora_adapter", self._load_adapter)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/tokenize", self._tokenize)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self.base_url

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _load_adapter(self, request: web.Request) -> web.StreamResponse:
        self.adapter_loads.append(await request.json())
        status = self.behaviour.adapter_load_status
        if status >= 400:
            return web.json_response({"error": {"message": "scripted refusal"}}, status=status)
        return web.Response(text="Success: LoRA adapter added successfully.")

    async def _models(self, request: web.Request) -> web.StreamResponse:
        data = [{"id": model, "object": "model"} for model in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _tokenize(self, request: web.Request) -> web.StreamResponse:
        """One token per character, so that a test can tell which prompt logprobs are the text's."""
        tokens = [ord(char) for char in (await request.json())["prompt"]]
        return web.json_response({"count": len(tokens), "tokens": tokens})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.seen.append(Seen(headers, await request.json()))
        behaviour = self.behaviour
        if behaviour.latency_s:
            await asyncio.sleep(behaviour.latency_s)
        if behaviour.mode == "status":
            return web.json_response({"error": {"message": "scripted"}}, status=behaviour.status)
        if behaviour.refuse_prompt_embeds and _has_prompt_embeds(self.seen[-1].body):
            message = "You must set `--enable-prompt-embeds` to input `prompt_embeds`"
            return web.json_response({"error": {"message": message}}, status=400)
        if behaviour.mode == "hang_before_headers":
            await self._release.wait()
            return web.json_response({})
        if behaviour.mode == "drop":
            assert request.transport is not None
            request.transport.close()
            await self._release.wait()
            return web.json_response({})
        if behaviour.mode == "hang_after_headers":
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            await response.write(b'{"id": "cmpl-1", ')
            await self._release.wait()
            return response
        body = self.seen[-1].body
        content = behaviour.respond(body) if behaviour.respond is not None else behaviour.content
        answer = self._answer(behaviour, content)
        if body.get("logprobs") and behaviour.first_token_logprobs is not None:
            top = behaviour.first_token_logprobs(body)
            answer["choices"][0]["logprobs"] = {
                "content": [
                    {
                        "token": "x",
                        "logprob": -1.0,
                        "top_logprobs": [
                            {"token": token, "logprob": logprob} for token, logprob in top.items()
                        ],
                    }
                ]
            }
        if body.get("prompt_logprobs") is not None:
            text = str(body["messages"][-1]["content"])
            logprob = behaviour.token_logprob(body)
            answer["prompt_logprobs"] = [None] + [{str(ord(char)): {"logprob": logprob}} for char in text]
        return web.Response(text=json.dumps(answer), content_type="application/json")

    def _answer(self, behaviour: Behaviour, content: str | None) -> dict[str, Any]:
        return {
            "id": "cmpl-fake",
            "object": "chat.completion",
            "model": "fake-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": behaviour.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": behaviour.prompt_tokens,
                "completion_tokens": behaviour.completion_tokens,
                "total_tokens": behaviour.prompt_tokens + behaviour.completion_tokens,
            },
        }


def _has_prompt_embeds(body: dict[str, Any]) -> bool:
    return any(
        isinstance(part, dict) and part.get("type") == "prompt_embeds"
        for message in body.get("messages", [])
        if isinstance(message.get("content"), list)
        for part in message["content"]
    )
