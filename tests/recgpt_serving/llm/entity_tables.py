"""Entity tables for tests: width 4, item i's vector all (i + 1), in the order given."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from recgpt_domain.entity_artefact import EntityManifest, EntityTable
from recgpt_serving.llm.entity_tokens import EntityTokens

WIDTH = 4


def manifest(**fields: object) -> EntityManifest:
    values: dict[str, object] = {
        "version": "v1",
        "llm_model": "smol",
        "llm_hidden_size": WIDTH,
        "embedding_model": "minilm",
        "embedding_dimension": 8,
        "items": 0,
        "items_fingerprint": "",
        **fields,
    }
    return EntityManifest.model_validate(values)


def table_of(item_ids: Iterable[str]) -> EntityTokens:
    ordered = list(item_ids)
    vectors = np.stack([np.full(WIDTH, row + 1, dtype=np.float32) for row in range(len(ordered))])
    rows = {item: row for row, item in enumerate(ordered)}
    return EntityTokens(EntityTable(folder=Path("."), manifest=manifest(), rows=rows, vectors=vectors))
