"""Moves trained artefacts between local folders and the artefact store (recgpt_domain.artefact_store).

    python -m recgpt_tools.artefact_sync publish towers var/models/towers/towers-<version> --store URL
    python -m recgpt_tools.artefact_sync publish entities var/models/entities/entities-<version> --store URL
    python -m recgpt_tools.artefact_sync publish adapter var/adapters/<agent>/<version> --store URL
    python -m recgpt_tools.artefact_sync fetch towers --into var/models/towers [--version V] --store URL
    python -m recgpt_tools.artefact_sync fetch entities --into var/models/entities [--version V] --store URL
                                         [--best-effort]
    python -m recgpt_tools.artefact_sync fetch adapters --into var/adapters --store URL

`--store` defaults to RECGPT_ARTEFACT_STORE_URL. The towers' and adapters' training commands publish by
themselves when it is set; this command is for the entity tokens, for an artefact trained before, and for a
container that must hold the artefacts before its process starts (an init container of the agents, of the
engine or of retrieval). The launcher fetches adapters the same way before it starts vLLM (`fetch_adapters`).

A fetched artefact is only checked against the store's checksums: whether it fits the served catalogue and
model is for its reader to decide when it loads it (the towers in retrieval, the entity tokens in the agents).
`--best-effort` is for an init container whose process serves without the artefact: a store it cannot read
is reported and the exit status is 0, as retrieval keeps serving when its own fetch of the towers fails.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent_training import artefact as adapter_artefact
from recgpt_domain import artefact_folder, artefact_store, entity_artefact
from recgpt_domain.artefact_store import ArtefactStoreError, ArtefactStoreSettings, VersionedFolder
from recgpt_domain.towers import artefact as towers_artefact
from recgpt_serving.llm import adapter_files

# The file naming an agent's newest adapter in its folder, as training writes it.
ADAPTER_POINTER = adapter_artefact.LATEST_FILE


@dataclass(frozen=True)
class FolderKind:
    """An artefact folder of item vectors (recgpt_domain.artefact_folder): where the store keeps its
    versions, and the prefix its local reader requires of a version's name."""

    store: Callable[[str, str], VersionedFolder]
    prefix: str

    def at(self, store_url: str) -> VersionedFolder:
        return self.store(store_url, artefact_folder.LATEST_FILE)

    def check(self, folder: Path) -> None:
        """Refuses a folder its reader would not take for one (named otherwise, or with no manifest)."""
        if not folder.name.startswith(self.prefix) or not (folder / artefact_folder.MANIFEST_FILE).is_file():
            raise ArtefactStoreError(
                f"{folder} is no {self.prefix}<version> folder with a {artefact_folder.MANIFEST_FILE}"
            )


FOLDER_KINDS: dict[str, FolderKind] = {
    "towers": FolderKind(artefact_store.towers, towers_artefact.PREFIX),
    "entities": FolderKind(artefact_store.entities, entity_artefact.PREFIX),
}


def fetch_adapters(store_url: str, adapters_dir: Path) -> dict[str, str]:
    """Each agent's newest published adapter into `adapters_dir/<agent>/`; agent -> version fetched."""
    fetched = {}
    for agent in artefact_store.adapter_agents(store_url):
        folder = artefact_store.adapters(store_url, agent, ADAPTER_POINTER).fetch_latest(adapters_dir / agent)
        if folder is not None:
            fetched[agent] = folder.name
    return fetched


def _publish(args: argparse.Namespace) -> str:
    folder: Path = args.folder.resolve()
    if args.kind == "adapter":
        if not (folder / adapter_files.MANIFEST).is_file():
            raise ArtefactStoreError(f"{folder} holds no {adapter_files.MANIFEST}: not an adapter version")
        store = artefact_store.adapters(args.store, folder.parent.name, ADAPTER_POINTER)
    else:
        kind = FOLDER_KINDS[args.kind]
        kind.check(folder)
        store = kind.at(args.store)
    manifest = store.publish(folder)
    return f"published {folder.name} ({len(manifest.files)} files) to {store.url}"


def _fetch(args: argparse.Namespace) -> str:
    into: Path = args.into
    if args.kind == "adapters":
        fetched = fetch_adapters(args.store, into)
        return "fetched " + (", ".join(f"{a}/{v}" for a, v in fetched.items()) or "nothing (no adapters)")
    store = FOLDER_KINDS[args.kind].at(args.store)
    version = args.version or store.latest()
    if version is None:
        return f"nothing to fetch: {store.url} holds no {args.kind}"
    return f"fetched {store.fetch(version, into)}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recgpt-artefacts", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    publish = commands.add_parser("publish", help="upload one trained version and point the store at it")
    publish.add_argument("kind", choices=[*FOLDER_KINDS, "adapter"])
    publish.add_argument("folder", type=Path, help="the version folder training wrote")
    fetch = commands.add_parser("fetch", help="download (and check) the newest or a given version")
    fetch.add_argument("kind", choices=[*FOLDER_KINDS, "adapters"])
    fetch.add_argument("--into", type=Path, required=True, help="the local folder serving reads")
    fetch.add_argument("--version", default="", help="towers, entities: this version rather than the newest")
    fetch.add_argument(
        "--best-effort",
        action="store_true",
        help="a store that cannot be read is reported, not fatal (the process starts without the artefact)",
    )
    for command in (publish, fetch):
        command.add_argument("--store", default=ArtefactStoreSettings().artefact_store_url)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.store:
        print("error: no store: give --store or set RECGPT_ARTEFACT_STORE_URL", file=sys.stderr)  # noqa: T201
        return 2
    try:
        print(_publish(args) if args.command == "publish" else _fetch(args))  # noqa: T201
    except (ArtefactStoreError, OSError) as error:
        if args.command == "fetch" and args.best_effort:
            print(f"warning: nothing fetched, starting without {args.kind}: {error!r}", file=sys.stderr)  # noqa: T201
            return 0
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
