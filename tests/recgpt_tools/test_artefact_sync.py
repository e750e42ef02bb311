"""`recgpt-artefacts`: an adapter version published by hand, then every agent's newest fetched into the
layout the engine launcher and the agents read (`<adapters>/<agent>/<version>/`, `latest` naming it); entity
tokens published and fetched into the folder the agents load, still refused there when made for another
catalogue or model."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from recgpt_domain import artefact_folder, entity_artefact
from recgpt_domain.entity_artefact import EntityArtefactError
from recgpt_serving.llm import adapter_files, entity_tokens
from recgpt_tools import artefact_sync


def adapter_version(root: Path, agent: str, version: str) -> Path:
    folder = root / agent / version
    folder.mkdir(parents=True)
    (folder / adapter_files.PEFT_CONFIG).write_text("{}")
    (folder / adapter_files.MANIFEST).write_text("{}")
    return folder


def test_publish_then_fetch_every_agents_newest(tmp_path: Path) -> None:
    store = f"memory://artefact-sync-{uuid.uuid4().hex}"
    trained = tmp_path / "trained"
    for agent, version in (("tags", "v1"), ("tags", "v2"), ("explain", "v1")):
        folder = adapter_version(trained, agent, version)
        assert artefact_sync.main(["publish", "adapter", str(folder), "--store", store]) == 0

    served = tmp_path / "adapters"
    assert artefact_sync.main(["fetch", "adapters", "--into", str(served), "--store", store]) == 0

    assert sorted(p.relative_to(served).as_posix() for p in served.glob("*/*") if p.is_dir()) == [
        "explain/v1",
        "tags/v2",
    ]
    assert (served / "tags" / artefact_sync.ADAPTER_POINTER).read_text().strip() == "v2"
    assert (served / "tags" / "v2" / adapter_files.MANIFEST).is_file()


def test_a_folder_that_is_no_adapter_is_not_published(tmp_path: Path) -> None:
    folder = tmp_path / "tags" / "v1"
    folder.mkdir(parents=True)
    store = f"memory://artefact-sync-{uuid.uuid4().hex}"
    assert artefact_sync.main(["publish", "adapter", str(folder), "--store", store]) == 1


def test_without_a_store_it_says_so(tmp_path: Path) -> None:
    assert artefact_sync.main(["fetch", "towers", "--into", str(tmp_path), "--store", ""]) == 2


def entity_version(models_dir: Path, item_ids: list[str], model: str = "smol") -> Path:
    """An entity-token artefact as `make train-adaptor` writes it (width 4)."""
    manifest = entity_artefact.EntityManifest(
        version=artefact_folder.new_version(),
        llm_model=model,
        llm_hidden_size=4,
        embedding_model="minilm",
        embedding_dimension=8,
        items=0,
        items_fingerprint="",
    )
    vectors = np.ones((len(item_ids), 4), dtype=np.float32)
    return entity_artefact.write(models_dir, manifest, item_ids, vectors, {"w": np.zeros(2)})


def test_entity_tokens_published_then_fetched_load_where_the_agents_read_them(tmp_path: Path) -> None:
    store = f"memory://artefact-sync-{uuid.uuid4().hex}"
    items = ["a1", "b2"]
    old = entity_version(tmp_path / "trained", items)
    new = entity_version(tmp_path / "trained", items)
    for folder in (old, new):
        assert artefact_sync.main(["publish", "entities", str(folder), "--store", store]) == 0

    served = tmp_path / "served"
    assert artefact_sync.main(["fetch", "entities", "--into", str(served), "--store", store]) == 0
    assert entity_artefact.latest(served) == served / new.name
    loaded = entity_tokens.load(served, items, "smol")
    assert loaded is not None and loaded.table.manifest.version == new.name.removeprefix("entities-")

    pinned = tmp_path / "pinned"
    command = ["fetch", "entities", "--into", str(pinned), "--version", old.name, "--store", store]
    assert artefact_sync.main(command) == 0
    assert entity_artefact.latest(pinned) == pinned / old.name


def test_fetched_entity_tokens_of_another_catalogue_or_model_are_still_refused(tmp_path: Path) -> None:
    store = f"memory://artefact-sync-{uuid.uuid4().hex}"
    folder = entity_version(tmp_path / "trained", ["a1", "b2"])
    assert artefact_sync.main(["publish", "entities", str(folder), "--store", store]) == 0
    served = tmp_path / "served"
    assert artefact_sync.main(["fetch", "entities", "--into", str(served), "--store", store]) == 0

    fetched = entity_artefact.latest(served)
    assert fetched is not None
    with pytest.raises(EntityArtefactError, match="another catalogue"):
        entity_artefact.load(fetched, ["a1", "b2", "c3"], "smol")
    with pytest.raises(EntityArtefactError, match="made for smol"):
        entity_artefact.load(fetched, ["a1", "b2"], "another-model")
    # The agents then name items by text.
    assert entity_tokens.load(served, ["a1", "c3"], "smol") is None


def test_a_folder_that_is_no_artefact_of_its_kind_is_not_published(tmp_path: Path) -> None:
    store = f"memory://artefact-sync-{uuid.uuid4().hex}"
    towers = entity_version(tmp_path / "entities", ["a1"]).rename(tmp_path / "towers-v1")
    assert artefact_sync.main(["publish", "entities", str(towers), "--store", store]) == 1
    half = tmp_path / "entities-v2"
    half.mkdir()
    assert artefact_sync.main(["publish", "entities", str(half), "--store", store]) == 1
    assert artefact_sync.main(["fetch", "entities", "--into", str(tmp_path / "out"), "--store", store]) == 0
    assert not (tmp_path / "out").exists()


def test_an_init_container_s_best_effort_fetch_starts_its_agent_without_the_artefact(tmp_path: Path) -> None:
    store = tmp_path / "store"
    folder = entity_version(tmp_path / "trained", ["a1"])
    assert artefact_sync.main(["publish", "entities", str(folder), "--store", str(store)]) == 0
    stored = store / "entities" / folder.name / entity_artefact.ITEM_VECTORS_FILE
    stored.write_bytes(stored.read_bytes()[:-1])

    served = tmp_path / "served"
    fetch = ["fetch", "entities", "--into", str(served), "--store", str(store)]
    assert artefact_sync.main(fetch) == 1
    assert artefact_sync.main([*fetch, "--best-effort"]) == 0
    assert entity_artefact.latest(served) is None
