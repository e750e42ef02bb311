"""`recgpt-artefacts`: an adapter version published by hand, then every agent's newest fetched into the
layout the engine launcher and the agents read (`<adapters>/<agent>/<version>/`, `latest` naming it)."""

from __future__ import annotations

import uuid
from pathlib import Path

from recgpt_serving.llm import adapter_files
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
