"""Whether the co-occurrence table that retrieval loaded counted the evaluation's held-out targets.

Retrieval names the behaviour log its table was built from (the sha256 of the catalogue's behaviour.jsonl, in
GetIndexInfo). The evaluation imports the dataset both ways a platform may: with every interaction, and with
each user's last interaction held out. The table counted the targets when it was built from the first, not
when from the second; when it is neither (another dataset, or another importer version) nobody can tell.
This asks the running retrieval process, so it holds whatever the evaluation imported itself.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from recgpt.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc

BuiltFrom = Literal["held_out_log", "full_log", "other"]


class LoadedCooccurrence(BaseModel):
    """What retrieval's loaded co-occurrence table was built from, as it says."""

    behaviour_fingerprint: str
    users: int
    interactions: int
    # held_out_log: this dataset without each user's last interaction; full_log: this dataset as it is.
    built_from: BuiltFrom

    @property
    def targets_seen(self) -> bool | None:
        return {"held_out_log": False, "full_log": True}.get(self.built_from)


async def loaded_cooccurrence(
    stub: retrieval_pb2_grpc.RetrievalServiceStub,
    deadline_s: float,
    *,
    full_log_fingerprint: str,
    held_out_fingerprint: str,
) -> LoadedCooccurrence | None:
    """None when retrieval does not name its co-occurrence's log (a build from before it did)."""
    info: retrieval_pb2.IndexInfo = await stub.GetIndexInfo(
        retrieval_pb2.GetIndexInfoRequest(), timeout=deadline_s
    )
    loaded = info.cooccurrence_behaviour_fingerprint
    if not loaded:
        return None
    built_from: BuiltFrom = (
        "held_out_log"
        if loaded == held_out_fingerprint
        else "full_log"
        if loaded == full_log_fingerprint
        else "other"
    )
    return LoadedCooccurrence(
        behaviour_fingerprint=loaded,
        users=info.cooccurrence_users,
        interactions=info.cooccurrence_interactions,
        built_from=built_from,
    )
