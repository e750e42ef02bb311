"""`recgpt-judge`: serve the RecGPT-V1 LLM-as-a-judge for interests, tags and explanations until SIGTERM."""

from __future__ import annotations

from judge.servicer import JudgeServicer
from judge.settings import JudgeSettings
from recgpt.judge.v1 import judge_pb2_grpc
from recgpt_domain import grounding
from recgpt_serving import agent_runner, service_names
from recgpt_serving.agent_runner import AgentDeps, Registration


def build(settings: JudgeSettings, deps: AgentDeps) -> Registration:
    vocabulary = grounding.CatalogueVocabulary.from_items(deps.items.values())
    servicer = JudgeServicer(settings, deps, vocabulary)
    return Registration(servicer, judge_pb2_grpc.add_JudgeServiceServicer_to_server, service_names.JUDGE)


def main() -> None:
    agent_runner.main("judge", JudgeSettings, build)


if __name__ == "__main__":
    main()
