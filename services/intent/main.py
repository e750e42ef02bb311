"""`recgpt-intent`: serve the interest-mining gRPC service until SIGTERM."""

from __future__ import annotations

from intent.servicer import SERVICE_NAME, IntentServicer
from intent.settings import IntentSettings
from recgpt.intent.v1 import intent_pb2_grpc
from recgpt_serving import agent_runner
from recgpt_serving.agent_runner import AgentDeps, Registration


def build(settings: IntentSettings, deps: AgentDeps) -> Registration:
    return Registration(
        servicer=IntentServicer(settings, deps),
        add_to_server=intent_pb2_grpc.add_IntentServiceServicer_to_server,
        full_service_name=SERVICE_NAME,
    )


def main() -> None:
    agent_runner.main("intent", IntentSettings, build)


if __name__ == "__main__":
    main()
