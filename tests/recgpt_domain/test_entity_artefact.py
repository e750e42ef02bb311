"""Entity-token artefacts: written whole, read back as written, and refused (with the reason) when made for
another catalogue or model, or altered on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recgpt_domain import entity_artefact
from recgpt_domain.entity_artefact import EntityArtefactError, EntityManifest

ITEMS = ["a1", "b2", "c3"]


def written(models_dir: Path, item_ids: list[str] = ITEMS, model: str = "smol") -> Path:
    vectors = np.arange(len(item_ids) * 4, dtype=np.float32).reshape(len(item_ids), 4)
    manifest = EntityManifest(
        version="v1",
        llm_model=model,
        llm_hidden_size=4,
        embedding_model="minilm",
        embedding_dimension=8,
        items=0,
        items_fingerprint="",
    )
    return entity_artefact.write(models_dir, manifest, item_ids, vectors, {"w": np.zeros(2)})


def test_an_artefact_reads_back_as_written_and_latest_names_it(tmp_path: Path) -> None:
    folder = written(tmp_path)
    assert entity_artefact.latest(tmp_path) == folder
    table = entity_artefact.load(folder, ITEMS, "smol")
    assert table.manifest.items == 3 and table.manifest.files
    vector = table.vector("b2")
    assert vector is not None and vector.tolist() == [4.0, 5.0, 6.0, 7.0]
    assert table.vector("zz") is None
    assert not list(tmp_path.glob(".*partial"))


def test_no_artefact_is_none(tmp_path: Path) -> None:
    assert entity_artefact.latest(tmp_path) is None


@pytest.mark.parametrize(
    ("item_ids", "model", "reason"),
    [
        (["a1", "b2"], "smol", "another catalogue"),
        (ITEMS, "llama-70b", "made for smol"),
    ],
)
def test_another_catalogue_or_model_is_refused(
    tmp_path: Path, item_ids: list[str], model: str, reason: str
) -> None:
    folder = written(tmp_path)
    with pytest.raises(EntityArtefactError, match=reason):
        entity_artefact.load(folder, item_ids, model)


def test_an_altered_vector_file_is_refused(tmp_path: Path) -> None:
    folder = written(tmp_path)
    np.save(folder / entity_artefact.ITEM_VECTORS_FILE, np.ones((3, 4), dtype=np.float32))
    with pytest.raises(EntityArtefactError, match="missing or altered"):
        entity_artefact.load(folder, ITEMS, "smol")


def test_a_latest_pointer_outside_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / entity_artefact.LATEST_FILE).write_text("../elsewhere\n")
    with pytest.raises(EntityArtefactError, match="not an artefact folder"):
        entity_artefact.latest(tmp_path)
