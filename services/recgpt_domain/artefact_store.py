"""Where trained artefacts go once trained and where serving takes them from: a folder or any fsspec URL.

Training writes an artefact into a local folder as before (the towers' `towers-<version>/`, the entity
tokens' `entities-<version>/`, an agent's adapter `<version>/`), then publishes it to the store; a serving
process fetches the version it wants into a local folder of the same layout (its cache) and reads it from
there as before. With no store configured the local folders are all there is, as on one machine.

A kind of artefact is a `VersionedFolder` under the store's URL (`<url>/towers`, `<url>/entities`,
`<url>/adapters/<agent>`):

- `<version>/...`               the artefact's files, uploaded first;
- `<version>/store-manifest.json` every file's sha256 and size, written last: a version without it is
                                not published (object stores have no rename, so this is the commit);
- `<pointer>`                   the newest version's name, replaced last (`LATEST` for the towers and
                                the entity tokens, `latest` for adapters: the names their local readers
                                already use).

A fetch downloads into a scratch folder beside the cache's, checks every file against the manifest, and
renames it into place: a reader of the cache never sees a partial or altered version. The URL may be a
path (`var/artefacts`), `file://`, `memory://` (tests), or `s3://` / `gs://` with the `s3` / `gcs` extra.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import time
from pathlib import Path
from typing import Any

import fsspec  # type: ignore[import-untyped]
from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

STORE_MANIFEST = "store-manifest.json"
FORMAT = 1


class ArtefactStoreSettings(BaseSettings):
    """`RECGPT_ARTEFACT_STORE_URL`: where training publishes and serving fetches; empty: local folders."""

    model_config = SettingsConfigDict(env_prefix="RECGPT_", extra="ignore", frozen=True)

    artefact_store_url: str = ""


class ArtefactStoreError(RuntimeError):
    """A version that cannot be published or fetched: missing, unpublished, altered, or already there."""


class StoredFile(BaseModel):
    sha256: str = Field(min_length=64, max_length=64)
    bytes: int = Field(ge=0)


class StoreManifest(BaseModel):
    format: int = FORMAT
    version: str = Field(min_length=1)
    published_at_unix: int
    # Path inside the version folder (with "/") -> its checksum and size.
    files: dict[str, StoredFile]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _valid_name(name: str) -> str:
    if not name or name.startswith(".") or "/" in name or name in ("..", STORE_MANIFEST):
        raise ArtefactStoreError(f"not a version name: {name!r}")
    return name


class VersionedFolder:
    """The versions of one kind of artefact under `url`, the newest named by the file `pointer`."""

    def __init__(self, url: str, pointer: str, **storage_options: Any) -> None:
        self.url = url
        self.pointer = _valid_name(pointer)
        self.fs, self.root = fsspec.core.url_to_fs(url, **storage_options)

    def _path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    # Publishing (training).

    def publish(self, folder: Path, *, make_latest: bool = True) -> StoreManifest:
        """Uploads `folder` as version `folder.name`, then its manifest, then (by default) the pointer.

        A version is never rewritten: publishing one that is there already is refused."""
        version = _valid_name(folder.name)
        if self.fs.exists(self._path(version, STORE_MANIFEST)):
            raise ArtefactStoreError(f"{self.url}: version {version} is published already")
        files = sorted(path for path in folder.rglob("*") if path.is_file())
        manifest = StoreManifest(
            version=version,
            published_at_unix=int(time.time()),
            files={
                path.relative_to(folder).as_posix(): StoredFile(
                    sha256=sha256_of(path), bytes=path.stat().st_size
                )
                for path in files
            },
        )
        for path in files:
            target = self._path(version, path.relative_to(folder).as_posix())
            self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
            self.fs.put_file(str(path), target)
        self._write(self._path(version, STORE_MANIFEST), manifest.model_dump_json(indent=2).encode())
        if make_latest:
            self._write(self._path(self.pointer), (version + "\n").encode())
        return manifest

    def _write(self, path: str, data: bytes) -> None:
        """Whole or not at all: beside it first, then moved (an object store's PUT is atomic anyway)."""
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        scratch = f"{path}.{os.getpid()}.tmp"
        self.fs.pipe_file(scratch, data)
        self.fs.mv(scratch, path)

    # Reading (serving).

    def latest(self) -> str | None:
        """The version the pointer names; None when nothing was published."""
        pointer = self._path(self.pointer)
        if not self.fs.exists(pointer):
            return None
        return _valid_name(self.fs.cat_file(pointer).decode().strip())

    def versions(self) -> list[str]:
        """The published versions (those whose manifest is there), in name order: oldest first."""
        if not self.fs.exists(self.root):
            return []
        names = [posixpath.basename(entry.rstrip("/")) for entry in self.fs.ls(self.root, detail=False)]
        return sorted(
            name
            for name in names
            if not name.startswith(".") and self.fs.exists(self._path(name, STORE_MANIFEST))
        )

    def manifest(self, version: str) -> StoreManifest:
        path = self._path(_valid_name(version), STORE_MANIFEST)
        if not self.fs.exists(path):
            raise ArtefactStoreError(f"{self.url}: version {version} is not published")
        try:
            return StoreManifest.model_validate_json(self.fs.cat_file(path))
        except ValidationError as error:
            raise ArtefactStoreError(f"{self.url}/{version}: unreadable {STORE_MANIFEST}") from error

    def fetch(self, version: str, cache_dir: Path, *, make_latest: bool = True) -> Path:
        """`cache_dir/<version>`, downloaded and checked unless there already; then (by default) the cache's
        pointer names it, so that the local reader serves it."""
        manifest = self.manifest(version)
        final = cache_dir / version
        if not final.is_dir():
            cache_dir.mkdir(parents=True, exist_ok=True)
            scratch = cache_dir / f".{version}.partial-{os.getpid()}"
            shutil.rmtree(scratch, ignore_errors=True)
            try:
                self._download(manifest, scratch)
                os.rename(scratch, final)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        if make_latest:
            pointer = cache_dir / f".{self.pointer}.{os.getpid()}.tmp"
            pointer.write_text(version + "\n")
            os.replace(pointer, cache_dir / self.pointer)
        return final

    def _download(self, manifest: StoreManifest, scratch: Path) -> None:
        for name, expected in manifest.files.items():
            local = scratch / name
            if scratch.resolve() not in local.resolve().parents:
                raise ArtefactStoreError(f"{self.url}/{manifest.version}: file {name!r} leaves the version")
            local.parent.mkdir(parents=True, exist_ok=True)
            remote = self._path(manifest.version, name)
            if not self.fs.exists(remote):
                raise ArtefactStoreError(f"{self.url}/{manifest.version}: {name} is missing")
            self.fs.get_file(remote, str(local))
            if local.stat().st_size != expected.bytes or sha256_of(local) != expected.sha256:
                raise ArtefactStoreError(
                    f"{self.url}/{manifest.version}: {name} does not match its checksum (altered or partial)"
                )

    def fetch_latest(self, cache_dir: Path) -> Path | None:
        """The newest published version in the cache (fetched if new); None when the store has none."""
        version = self.latest()
        return None if version is None else self.fetch(version, cache_dir)


def towers(store_url: str, pointer: str) -> VersionedFolder:
    """The towers' versions: `<url>/towers/towers-<version>/`."""
    return VersionedFolder(posixpath.join(store_url, "towers"), pointer)


def entities(store_url: str, pointer: str) -> VersionedFolder:
    """The entity tokens' versions: `<url>/entities/entities-<version>/`."""
    return VersionedFolder(posixpath.join(store_url, "entities"), pointer)


def adapters(store_url: str, agent: str, pointer: str) -> VersionedFolder:
    """An agent's LoRA adapters: `<url>/adapters/<agent>/<version>/`."""
    return VersionedFolder(posixpath.join(store_url, "adapters", _valid_name(agent)), pointer)


def adapter_agents(store_url: str) -> list[str]:
    """The agents with adapters in the store."""
    fs, root = fsspec.core.url_to_fs(posixpath.join(store_url, "adapters"))
    if not fs.exists(root):
        return []
    return sorted(
        posixpath.basename(entry.rstrip("/"))
        for entry in fs.ls(root, detail=False)
        if fs.isdir(entry) and not posixpath.basename(entry.rstrip("/")).startswith(".")
    )
