"""Request checks shared by the RPCs; each failure says what is wrong, for INVALID_ARGUMENT."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recgpt.common.v1 import common_pb2
from recgpt.retrieval.v1 import retrieval_pb2
from recgpt_domain.embedder import Vectors


class InvalidRequest(ValueError):
    """The request cannot be answered as asked; the message goes back to the caller."""


def top_k(value: int, maximum: int) -> int:
    if not 1 <= value <= maximum:
        raise InvalidRequest(f"top_k must be between 1 and {maximum}, got {value}")
    return value


def per_query_top_k(value: int) -> int:
    """0 means no cap; a cap of top_k or more changes nothing."""
    if value < 0:
        raise InvalidRequest(f"per_query_top_k must be 0 (no cap) or positive, got {value}")
    return value


def seed_item_ids(values: Sequence[str], maximum: int) -> list[str]:
    """Given seeds, most recent first, each once; unknown ids are left to the item table to drop."""
    if len(values) > maximum:
        raise InvalidRequest(f"too many seed_item_ids: {len(values)}, at most {maximum}")
    return list(dict.fromkeys(values))


def recent_items(value: int, default: int, maximum: int) -> int:
    if value == 0:
        return default
    if not 1 <= value <= maximum:
        raise InvalidRequest(f"recent_items must be between 1 and {maximum} (0 = default), got {value}")
    return value


def query_count(count: int, kind: str, maximum: int) -> None:
    if count == 0:
        raise InvalidRequest(f"empty query: {kind} has no entries")
    if count > maximum:
        raise InvalidRequest(f"too many {kind}: {count}, at most {maximum}")


def texts(values: Sequence[str], maximum: int) -> list[str]:
    query_count(len(values), "texts", maximum)
    cleaned = [value.strip() for value in values]
    for position, value in enumerate(cleaned):
        if not value:
            raise InvalidRequest(f"texts[{position}] is empty")
    return cleaned


def tag_texts(tags: Sequence[common_pb2.Tag], maximum: int, include_rationale: bool) -> list[str]:
    """The text each tag is embedded from: the tag itself, and its rationale when configured."""
    query_count(len(tags), "tags", maximum)
    result = []
    for position, tag in enumerate(tags):
        text = tag.tag.strip()
        if not text:
            raise InvalidRequest(f"tags[{position}].tag is empty")
        rationale = tag.rationale.strip()
        result.append(f"{text}. {rationale}" if include_rationale and rationale else text)
    return result


def vectors(values: Sequence[retrieval_pb2.Vector], dimension: int, maximum: int) -> Vectors:
    """Query vectors, normalised so that inner product is cosine like the indexed items."""
    query_count(len(values), "vectors", maximum)
    rows = []
    for position, vector in enumerate(values):
        if len(vector.values) != dimension:
            raise InvalidRequest(
                f"vectors[{position}] has dimension {len(vector.values)}, the index has {dimension}"
            )
        row = np.asarray(vector.values, dtype=np.float32)
        norm = float(np.linalg.norm(row))
        if not np.isfinite(norm) or norm == 0.0:
            raise InvalidRequest(f"vectors[{position}] is zero or not finite")
        rows.append(row / norm)
    return np.stack(rows)


def item_ids(values: Sequence[str], maximum: int) -> list[str]:
    query_count(len(values), "items", maximum)
    return list(values)


def user_id(value: str) -> str:
    if not value.strip():
        raise InvalidRequest("user_id is required")
    return value
