"""What the served catalogue holds of the evaluation dataset's items."""

from __future__ import annotations

from collections.abc import Sequence

from recgpt.common.v1 import common_pb2
from recgpt.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc

CHUNK = 1000


async def served_items(
    stub: retrieval_pb2_grpc.RetrievalServiceStub, item_ids: Sequence[str], deadline_s: float
) -> dict[str, common_pb2.Item]:
    """The served items among `item_ids`, by id (unknown ids are simply absent)."""
    found: dict[str, common_pb2.Item] = {}
    unique = list(dict.fromkeys(item_ids))
    for start in range(0, len(unique), CHUNK):
        reply = await stub.GetItems(
            retrieval_pb2.GetItemsRequest(item_ids=unique[start : start + CHUNK]), timeout=deadline_s
        )
        for item in reply.items:
            found[item.item_id] = item
    return found
