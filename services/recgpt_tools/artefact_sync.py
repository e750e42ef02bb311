"""Moves trained artefacts between local folders and the artefact store (recgpt_domain.artefact_store).

    python -m recgpt_tools.artefact_sync publish towers var/models/towers/towers-<version> --store URL
    python -m recgpt_tools.artefact_sync publish adapter var/adapters/<agent>/<version> --store URL
    python -m recgpt_tools.artefact_sync fetch towers --into var/models/towers [--version V] --store URL
    python -m recgpt_tools.artefact_sync fetch adapters --into var/adapters --store URL

`--store` defaults to RECGPT_ARTEFACT_STORE_URL. The training commands publish by themselves when it is
set; this command is for an artefact trained before, and for a container that must hold the artefacts before
its process starts (an init container of the engine or of retrieval). The launcher fetches adapters the
same way before it starts vLLM (`fetch_adapters`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent_training import artefact as adapter_artefact
from recgpt_domain import artefact_store
from recgpt_domain.artefact_store import ArtefactStoreError, ArtefactStoreSettings
from recgpt_domain.towers import artefact as towers_artefact
from recgpt_serving.llm import adapter_files

# The file naming an agent's newest adapter in its folder, as training writes it.
ADAPTER_POINTER = adapter_artefact.LATEST_FILE


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
    if args.kind == "towers":
        store = artefact_store.towers(args.store, towers_artefact.LATEST_FILE)
    else:
        if not (folder / adapter_files.MANIFEST).is_file():
            raise ArtefactStoreError(f"{folder} holds no {adapter_files.MANIFEST}: not an adapter version")
        store = artefact_store.adapters(args.store, folder.parent.name, ADAPTER_POINTER)
    manifest = store.publish(folder)
    return f"published {folder.name} ({len(manifest.files)} files) to {store.url}"


def _fetch(args: argparse.Namespace) -> str:
    into: Path = args.into
    if args.kind == "adapters":
        fetched = fetch_adapters(args.store, into)
        return "fetched " + (", ".join(f"{a}/{v}" for a, v in fetched.items()) or "nothing (no adapters)")
    store = artefact_store.towers(args.store, towers_artefact.LATEST_FILE)
    version = args.version or store.latest()
    if version is None:
        return f"nothing to fetch: {store.url} holds no towers"
    return f"fetched {store.fetch(version, into)}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recgpt-artefacts", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    publish = commands.add_parser("publish", help="upload one trained version and point the store at it")
    publish.add_argument("kind", choices=["towers", "adapter"])
    publish.add_argument("folder", type=Path, help="the version folder training wrote")
    fetch = commands.add_parser("fetch", help="download (and check) the newest or a given version")
    fetch.add_argument("kind", choices=["towers", "adapters"])
    fetch.add_argument("--into", type=Path, required=True, help="the local folder serving reads")
    fetch.add_argument("--version", default="", help="towers: this version rather than the newest")
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
    except ArtefactStoreError as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
