"""`recgpt-intent`: serve the interest-mining gRPC service until SIGTERM."""

from __future__ import annotations

from intent.commands.parser import CommandParser
from intent.commands.vocabulary import Vocabulary
from intent.servicer import IntentServicer
from intent.settings import IntentSettings
from recgpt.intent.v1 import intent_pb2_grpc
from recgpt_domain import item_attributes
from recgpt_serving import agent_runner, service_names
from recgpt_serving.agent_runner import AgentDeps, Registration


def build(settings: IntentSettings, deps: AgentDeps) -> Registration:
    vocabulary = Vocabulary.build(item_attributes.load(settings.catalogue_dir, deps.items.values()))
    parser = CommandParser(
        vocabulary, deps.llm if settings.command_max_tokens else None, max_tokens=settings.command_max_tokens
    )
    return Registration(
        servicer=IntentServicer(settings, deps, parser=parser),
        add_to_server=intent_pb2_grpc.add_IntentServiceServicer_to_server,
        full_service_name=service_names.INTENT,
    )


def main() -> None:
    agent_runner.main("intent", IntentSettings, build)


if __name__ == "__main__":
    main()
