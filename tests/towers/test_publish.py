"""`make train-retrieval` with RECGPT_ARTEFACT_STORE_URL set publishes the artefact it wrote, and what serving
fetches from the store passes the artefact's own checks."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from recgpt_domain import artefact_store
from recgpt_domain.towers import artefact
from tests.towers.fixtures import HashEmbedder, small_amazon
from towers import data, train_cli
from towers.train_cli import text_inputs


def test_training_publishes_the_artefact_it_wrote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = small_amazon(tmp_path / "small")
    cache = tmp_path / "text-cache"
    # The text vectors are cached beforehand, so training never loads the embedding model.
    text_inputs(data.build(dataset, 0.1), HashEmbedder(), cache)
    models = tmp_path / "models"
    store_url = f"memory://towers-publish-{uuid.uuid4().hex}"
    monkeypatch.setenv("RECGPT_ARTEFACT_STORE_URL", store_url)

    argv = [
        str(dataset), "--models-dir", str(models), "--cache-dir", str(cache),
        "--max-epochs", "1", "--max-steps-per-epoch", "2", "--dim", "16", "--threads", "1", "--no-fusion",
    ]  # fmt: skip
    train_cli.main(argv)

    written = artefact.latest(models)
    assert written is not None
    store = artefact_store.towers(store_url, artefact.LATEST_FILE)
    assert store.latest() == written.name
    fetched = store.fetch_latest(tmp_path / "serving")
    assert fetched is not None
    assert artefact.latest(tmp_path / "serving") == fetched
    loaded = artefact.load(fetched)
    assert loaded.manifest == artefact.read_manifest(written)
