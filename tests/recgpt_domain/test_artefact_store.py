"""The artefact store, on a local folder and on fsspec's memory filesystem: a published version is fetched
whole and checked, an altered or unpublished one never reaches the cache, and versions are never rewritten."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec  # type: ignore[import-untyped]
import pytest

from recgpt_domain.artefact_store import (
    STORE_MANIFEST,
    ArtefactStoreError,
    VersionedFolder,
    adapter_agents,
    adapters,
)


@pytest.fixture(params=["folder", "memory"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "folder":
        yield str(tmp_path / "store")
        return
    url = f"memory://artefact-store-{uuid.uuid4().hex}"
    yield url
    fs, root = fsspec.core.url_to_fs(url)
    if fs.exists(root):
        fs.rm(root, recursive=True)


def trained(parent: Path, name: str, weights: bytes = b"weights") -> Path:
    """A version folder as a trainer leaves it, with a nested file."""
    folder = parent / name
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(weights)
    (folder / "manifest.json").write_text(json.dumps({"version": name}))
    (folder / "sub" / "config.json").write_text("{}")
    return folder


def test_a_published_version_is_fetched_whole_and_named_latest_in_the_cache(
    store_url: str, tmp_path: Path
) -> None:
    store = VersionedFolder(f"{store_url}/towers", "LATEST")
    assert (store.latest(), store.versions()) == (None, [])
    assert store.fetch_latest(tmp_path / "cache") is None

    first = trained(tmp_path / "trained", "towers-1", b"first")
    manifest = store.publish(first)
    assert sorted(manifest.files) == ["manifest.json", "sub/config.json", "weights.bin"]
    store.publish(trained(tmp_path / "trained", "towers-2", b"second"))

    assert (store.latest(), store.versions()) == ("towers-2", ["towers-1", "towers-2"])
    cache = tmp_path / "cache"
    fetched = store.fetch_latest(cache)
    assert fetched == cache / "towers-2"
    assert (fetched / "weights.bin").read_bytes() == b"second"
    assert (fetched / "sub" / "config.json").read_text() == "{}"
    # The cache has the layout the local reader reads: its pointer names the version.
    assert (cache / "LATEST").read_text().strip() == "towers-2"
    # An older version, by name.
    assert (store.fetch("towers-1", cache, make_latest=False) / "weights.bin").read_bytes() == b"first"
    assert (cache / "LATEST").read_text().strip() == "towers-2"
    assert sorted(path.name for path in cache.iterdir()) == ["LATEST", "towers-1", "towers-2"]


def test_an_altered_file_fails_the_fetch_and_leaves_nothing_in_the_cache(
    store_url: str, tmp_path: Path
) -> None:
    store = VersionedFolder(store_url, "LATEST")
    store.publish(trained(tmp_path, "v1"))
    store.fs.pipe_file(f"{store.root}/v1/weights.bin", b"tampered")

    with pytest.raises(ArtefactStoreError, match="checksum"):
        store.fetch("v1", tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_a_version_without_its_manifest_is_not_published(store_url: str, tmp_path: Path) -> None:
    store = VersionedFolder(store_url, "LATEST")
    store.publish(trained(tmp_path, "v1"))
    store.fs.rm(f"{store.root}/v1/{STORE_MANIFEST}")  # as an upload cut off before its last file

    assert store.versions() == []
    with pytest.raises(ArtefactStoreError, match="not published"):
        store.fetch("v1", tmp_path / "cache")


def test_a_version_is_never_rewritten(store_url: str, tmp_path: Path) -> None:
    store = VersionedFolder(store_url, "LATEST")
    store.publish(trained(tmp_path / "a", "v1", b"one"))
    with pytest.raises(ArtefactStoreError, match="published already"):
        store.publish(trained(tmp_path / "b", "v1", b"two"))
    assert (store.fetch("v1", tmp_path / "cache") / "weights.bin").read_bytes() == b"one"


def test_names_that_leave_their_folder_are_refused(store_url: str) -> None:
    for name in ("", "..", ".hidden", "a/b"):
        with pytest.raises(ArtefactStoreError):
            VersionedFolder(store_url, name)


def test_adapters_are_kept_per_agent(store_url: str, tmp_path: Path) -> None:
    adapters(store_url, "tags", "latest").publish(trained(tmp_path / "tags", "20261206T000000Z-sft-aaaa"))
    adapters(store_url, "explain", "latest").publish(
        trained(tmp_path / "explain", "20261206T000000Z-sft-bbbb")
    )

    assert adapter_agents(store_url) == ["explain", "tags"]
    assert adapters(store_url, "tags", "latest").latest() == "20261206T000000Z-sft-aaaa"
