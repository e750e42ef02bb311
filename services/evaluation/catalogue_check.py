"""What the served catalogue holds of the evaluation dataset: its items, and whether its targets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from recgpt.common.v1 import common_pb2
from recgpt.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from recgpt_domain.catalogue import read_manifest
from recgpt_tools import run_state
from recgpt_tools.dataset_import.errors import DatasetFormatError
from recgpt_tools.dataset_import.formats import resolve_format
from recgpt_tools.dataset_import.importer import source_fingerprint

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


def targets_seen_by_platform(dataset: Path, fmt: str, stack_file: Path | None) -> bool | None:
    """True when the platform serves these very files with every interaction, targets included.

    Its co-occurrence then counts each held-out target beside its history, which inflates the collaborative
    route; a platform imported with `--hold-out-last` (as `make eval` starts it) has not seen them. None when
    unknown (no launcher state, or no manifest).
    """
    if stack_file is None:
        return None
    try:
        manifest = read_manifest(run_state.read(stack_file).catalogue_dir)
        resolved = resolve_format(dataset, fmt)
    except (OSError, ValueError, ValidationError, DatasetFormatError):
        return None
    return manifest.source_fingerprint == source_fingerprint(dataset, resolved, held_out_last=False)
