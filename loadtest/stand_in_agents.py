"""Stand-ins for intent, tags, retrieval and explain, for load tests of the near-line job's orchestration.

    python -m loadtest.stand_in_agents --port 50099 [--llm-ms 200]

One gRPC server (health and reflection, like the real ones) answering the four RPCs the near-line refresh
calls with fixed, valid answers; the LLM-bound ones (interests, tags, explanations) wait `--llm-ms` first, as
an engine would. What it measures is how the job spreads users over calls, not what the agents answer.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

import grpc
import uvloop

from recgpt.common.v1 import common_pb2
from recgpt.explain.v1 import explain_pb2, explain_pb2_grpc
from recgpt.intent.v1 import intent_pb2, intent_pb2_grpc
from recgpt.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from recgpt.tags.v1 import tags_pb2, tags_pb2_grpc
from recgpt_serving import logs, service_names
from recgpt_serving.grpc_server import GrpcService

MODEL = "stand-in"
INTERESTS_VERSION = "interests-stand-in"
TAGS_VERSION = "tags-stand-in"
USAGE = common_pb2.LlmUsage(prompt_tokens=100, completion_tokens=20, engine_seconds=0.2)
log = logging.getLogger("stand_in_agents")


def _provenance(version: str) -> common_pb2.Provenance:
    return common_pb2.Provenance(model=MODEL, prompt_version=version, created_at_unix=1)


class StandIns(
    intent_pb2_grpc.IntentServiceServicer,
    tags_pb2_grpc.TagsServiceServicer,
    retrieval_pb2_grpc.RetrievalServiceServicer,
    explain_pb2_grpc.ExplainServiceServicer,
):
    def __init__(self, llm_s: float) -> None:
        self.llm_s = llm_s

    async def MineInterests(
        self, request: intent_pb2.MineInterestsRequest, context: grpc.aio.ServicerContext
    ) -> intent_pb2.MineInterestsResponse:
        await asyncio.sleep(self.llm_s)
        return intent_pb2.MineInterestsResponse(
            interests=[common_pb2.Interest(interest="lab glassware", reason="bought beakers twice")],
            provenance=_provenance(INTERESTS_VERSION),
            usage=USAGE,
        )

    async def PredictTags(
        self, request: tags_pb2.PredictTagsRequest, context: grpc.aio.ServicerContext
    ) -> tags_pb2.PredictTagsResponse:
        await asyncio.sleep(self.llm_s)
        interest = request.interests[0].interest if request.interests else ""
        return tags_pb2.PredictTagsResponse(
            tags=[
                common_pb2.Tag(
                    tag="borosilicate beakers", interest=interest, category="Lab", category_score=0.9
                )
            ],
            provenance=_provenance(TAGS_VERSION),
            usage=USAGE,
        )

    async def Search(
        self, request: retrieval_pb2.SearchRequest, context: grpc.aio.ServicerContext
    ) -> retrieval_pb2.SearchResponse:
        tag = request.tags.tags[0] if request.tags.tags else common_pb2.Tag()
        items = [
            common_pb2.ScoredItem(
                item=common_pb2.Item(item_id=f"item-{rank}", title=f"Beaker {rank}", category_path=["Lab"]),
                score=1.0 - rank / 10,
                route="tag",
                tag=tag.tag,
                interest=tag.interest,
            )
            for rank in range(min(request.top_k or 5, 10))
        ]
        return retrieval_pb2.SearchResponse(items=items)

    async def Explain(
        self, request: explain_pb2.ExplainRequest, context: grpc.aio.ServicerContext
    ) -> explain_pb2.ExplainResponse:
        await asyncio.sleep(self.llm_s)
        return explain_pb2.ExplainResponse(
            explanations=[
                explain_pb2.Explanation(
                    interest=pair.interest,
                    item_id=pair.item_id,
                    text=f"{pair.item_id} suits your {pair.interest}",
                    provenance=_provenance("explain-stand-in"),
                )
                for pair in request.pairs
            ],
            usage=USAGE,
        )


async def serve(host: str, port: int, llm_s: float) -> None:
    names = [service_names.INTENT, service_names.TAGS, service_names.RETRIEVAL, service_names.EXPLAIN]
    service = GrpcService("stand-in-agents", names, max_concurrent_rpcs=4096)
    servicer = StandIns(llm_s)
    for add in (
        intent_pb2_grpc.add_IntentServiceServicer_to_server,
        tags_pb2_grpc.add_TagsServiceServicer_to_server,
        retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server,
        explain_pb2_grpc.add_ExplainServiceServicer_to_server,
    ):
        add(servicer, service.server)  # type: ignore[no-untyped-call]
    service.bind(host, port)
    await service.start()
    await service.mark_serving()
    log.info("stand-in agents serving", extra={"port": service.port, "llm_s": llm_s})
    await service.run_until_signalled(grace_s=1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--llm-ms", type=float, default=200.0, help="wait of each LLM-bound call")
    args = parser.parse_args()
    logs.configure("stand-in-agents")
    uvloop.run(serve(args.host, args.port, args.llm_ms / 1000))


if __name__ == "__main__":
    main()
