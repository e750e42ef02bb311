"""The judge service in-process on port 0 with a fake LLM and a real Redis, as its tests start it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from judge.main import build
from judge.settings import JudgeSettings
from recgpt.judge.v1 import judge_pb2, judge_pb2_grpc
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.messages import item_to_pb
from recgpt_serving.agent_runner import AgentDeps
from recgpt_serving.llm.client import LlmClient, LlmSettings
from tests.explain.catalogue import BY_ID
from tests.grpc_servers import serving
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI

Stub = judge_pb2_grpc.JudgeServiceStub


class Judge:
    def __init__(self, stub: Stub, llm: FakeOpenAI, store: BehaviourStore) -> None:
        self.stub = stub
        self.llm = llm
        self.store = store


@asynccontextmanager
async def running_judge(
    settings: JudgeSettings, fake_llm: FakeOpenAI, redis_client: aioredis.Redis, redis_prefix: str
) -> AsyncIterator[Judge]:
    llm = LlmClient(LlmSettings(endpoints=[fake_llm.base_url], model="smol"))
    store = BehaviourStore(redis_client, redis_prefix)
    try:
        registration = build(settings, AgentDeps(llm=llm, store=store, items=BY_ID))
        async with (
            serving(registration, name="judge") as served,
            grpc.aio.insecure_channel(served.target) as channel,
        ):
            yield Judge(Stub(channel), fake_llm, store)  # type: ignore[no-untyped-call]
    finally:
        await llm.aclose()


def judge_settings(tmp_path: Path, redis_url: str, redis_prefix: str, **extra: Any) -> JudgeSettings:
    return JudgeSettings(
        catalogue_dir=tmp_path,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        port=0,
        metrics_port=0,
        **extra,
    )


def verdicts(name: str, subject: str, verdict: str, source: str) -> float:
    labels = {"subject": subject, "verdict": verdict, "source": source}
    return REGISTRY.get_sample_value(name, labels) or 0.0


def count(subject: str, verdict: str, source: str) -> float:
    return verdicts("recgpt_judge_verdicts_total", subject, verdict, source)


def explanation(interest: str, item_id: str, text: str) -> judge_pb2.ExplanationSubject:
    return judge_pb2.ExplanationSubject(interest=interest, item=item_to_pb(BY_ID[item_id]), text=text)
