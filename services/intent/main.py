"""`recgpt-intent`: serve the interest-mining gRPC service until SIGTERM."""

from __future__ import annotations

import logging

from intent.commands.parser import CommandParser
from intent.commands.vocabulary import Vocabulary
from intent.planner import Planner, PlannerStatistics
from intent.servicer import IntentServicer
from intent.settings import IntentSettings
from recgpt.intent.v1 import intent_pb2_grpc
from recgpt_domain import item_attributes
from recgpt_domain.catalogue import BEHAVIOUR_FILE, iter_histories
from recgpt_serving import agent_runner, service_names
from recgpt_serving.agent_runner import AgentDeps, Registration

log = logging.getLogger(__name__)


def build(settings: IntentSettings, deps: AgentDeps) -> Registration:
    vocabulary = Vocabulary.build(item_attributes.load(settings.catalogue_dir, deps.items.values()))
    parser = CommandParser(
        vocabulary, deps.llm if settings.command_max_tokens else None, max_tokens=settings.command_max_tokens
    )
    # RecGPT-V2's planner: the histories the platform holds (held-out items are not in them).
    log_file = settings.catalogue_dir / BEHAVIOUR_FILE
    if not log_file.exists():
        log.warning(
            "no behaviour log: the persona planner has no transitions or trends",
            extra={"path": str(log_file)},
        )
    histories = iter_histories(settings.catalogue_dir) if log_file.exists() else iter(())
    statistics = PlannerStatistics.count(histories, deps.items, settings.trend_days, settings.trend_top)
    return Registration(
        servicer=IntentServicer(settings, deps, parser=parser, planner=Planner(settings, deps, statistics)),
        add_to_server=intent_pb2_grpc.add_IntentServiceServicer_to_server,
        full_service_name=service_names.INTENT,
    )


def main() -> None:
    agent_runner.main("intent", IntentSettings, build)


if __name__ == "__main__":
    main()
