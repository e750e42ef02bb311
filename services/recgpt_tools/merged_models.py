"""Merged models on disk, and which one each agent's own engine serves on a start of the platform.

`make merge-adapter` (recgpt_tools.merge_adapter) writes `<models>/merged/<agent>-<version>/`: an agent's
adapter merged into the base weights, served without LoRA under the adapter's served name, with
`recgpt_merged.json`. `RECGPT_STACK_MERGED_AGENTS` names the agents `make run` serves that way: each gets an
engine of its own serving the merged folder of the very adapter it would be served as LoRA (the same choice:
RECGPT_LLM_AGENT_ADAPTERS, the newest trained on its prompt), and a start without that folder is refused
with the command that makes it. Nothing is merged behind the user's back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from recgpt_serving.llm.adapter_files import Adapter

MANIFEST = "recgpt_merged.json"
# Under the models folder: `var/models/merged/<agent>-<version>/`.
MERGED_DIR = "merged"
FORMAT = 1
# GiB of KV cache of an agent's own engine (the shared one's default is 2): it serves one agent's calls.
KVCACHE_GIB = 1


class MergeError(Exception):
    """Why an adapter is not merged, or a folder is not a merged model; one line for the person at hand."""


class MergedManifest(BaseModel):
    format: int = FORMAT
    agent: str = Field(min_length=1)
    adapter_version: str = Field(min_length=1)
    # The adapter's served name: the merged engine serves the model under it, so that provenance and caches
    # name the same adapter whether it is served as LoRA or merged.
    served_name: str = Field(min_length=1)
    prompt_version: str = ""
    # The served base model's name and its folder's source stamp (`recgpt-source.json`).
    base_model: str
    base_model_source: dict[str, Any] = Field(default_factory=dict)
    # sha256 of each of the adapter's PEFT files, by name.
    adapter_sha256: dict[str, str]
    dtype: str
    created_at: str


def merged_folder(merged_dir: Path, adapter: Adapter) -> Path:
    return merged_dir / adapter.served_name


def read_merged(folder: Path) -> MergedManifest:
    """The merged model in `folder`, from its manifest; MergeError when it is not one."""
    try:
        return MergedManifest.model_validate_json((folder / MANIFEST).read_text())
    except OSError:
        raise MergeError(f"{folder} holds no merged model ({MANIFEST})") from None
    except ValidationError as error:
        raise MergeError(f"{folder / MANIFEST} is not a merged model's manifest: {error}") from None


@dataclass(frozen=True)
class MergedEngine:
    """What an agent's own engine serves: the merged folder, under the adapter's served name."""

    agent: str
    folder: Path
    model: str


def served_merged(adapter: Adapter, merged_dir: Path, base_stamp: dict[str, Any]) -> MergedEngine:
    """The merged model of `adapter` in `merged_dir`; MergeError, saying how to make it, when there is none
    or it was merged into another base folder than the served one (`base_stamp`)."""
    folder = merged_folder(merged_dir, adapter)
    make = f"make merge-adapter AGENT={adapter.agent} VERSION={adapter.version}"
    try:
        manifest = read_merged(folder)
    except MergeError as error:
        raise MergeError(f"{adapter.agent} is to be served merged, but {error}: `{make}`") from None
    if (manifest.agent, manifest.adapter_version) != (adapter.agent, adapter.version):
        raise MergeError(f"{folder} holds {manifest.served_name}, not {adapter.served_name}")
    if base_stamp and manifest.base_model_source and manifest.base_model_source != base_stamp:
        raise MergeError(
            f"{folder} was merged into a base folder made from {manifest.base_model_source}, the served one "
            f"is made from {base_stamp}: remove it and `{make}` again"
        )
    return MergedEngine(agent=adapter.agent, folder=folder, model=manifest.served_name)
