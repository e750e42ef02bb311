"""The intent service as its tests see it: its settings for a test, and what the `intent` fixture yields."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from intent.settings import IntentSettings
from recgpt.intent.v1 import intent_pb2_grpc
from recgpt_domain.behaviour_store import BehaviourStore
from tests.recgpt_serving.llm.fake_openai import FakeOpenAI


@dataclass
class Running:
    stub: intent_pb2_grpc.IntentServiceStub
    store: BehaviourStore
    llm: FakeOpenAI
    settings: IntentSettings


def intent_settings(redis_url: str, redis_prefix: str, **overrides: object) -> IntentSettings:
    values: dict[str, object] = {
        "catalogue_dir": Path("/nonexistent"),  # the items come in through AgentDeps
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "port": 0,
        "metrics_port": 0,
        **overrides,
    }
    return IntentSettings(**values)  # type: ignore[arg-type]
