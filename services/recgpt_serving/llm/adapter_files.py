"""LoRA adapters on disk: where each agent's versions live, which is newest, and whether one fits the base.

Layout (what `make train-sft` / `make train-grpo` write): `<adapters_dir>/<agent>/<version>/` with PEFT's
`adapter_config.json` and `adapter_model.safetensors`, and our manifest `recgpt_adapter.json` written last.
vLLM loads an adapter of another base model without a word when its module names match (measured: a
64-wide adapter on the 576-wide SmolLM2 answered as if it were the base model), so the fit to the served
base is checked here, by name and by the weights' shapes, before vLLM is asked to load anything.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

MANIFEST = "recgpt_adapter.json"
PEFT_CONFIG = "adapter_config.json"
PEFT_WEIGHTS = "adapter_model.safetensors"
# Choices of the adapter setting besides a version name.
BASE, NEWEST = "base", "newest"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_LAYER = re.compile(r"\.layers\.(\d+)\.")
# The largest safetensors header we read (a LoRA of a small model has a few kB).
_MAX_HEADER_BYTES = 16 * 1024 * 1024


class AdapterProblem(StrEnum):
    """Why an adapter is not served; the `reason` label of recgpt_llm_adapter_failures_total."""

    NOT_FOUND = "not_found"
    INVALID = "invalid"
    OTHER_BASE_MODEL = "other_base_model"
    RANK_TOO_HIGH = "rank_too_high"
    OTHER_PROMPT = "other_prompt"
    LOAD_FAILED = "load_failed"


class AdapterError(Exception):
    def __init__(self, problem: AdapterProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


class AdapterManifest(BaseModel):
    """What `recgpt_adapter.json` must say; the rest (data fingerprint, metrics, ...) is kept, not read."""

    model_config = {"extra": "allow", "protected_namespaces": ()}

    agent: str = Field(min_length=1)
    version: str = Field(min_length=1)
    # The served model name ("smollm2-135m-instruct"), or the base folder or HF id it was trained on.
    base_model: str = Field(min_length=1)
    created_at_unix: int = Field(ge=0)
    # The prompt the adapter learnt to answer (the agent's prompt version; the tag agent's names its mode).
    prompt_version: str = ""


@dataclass(frozen=True)
class Adapter:
    agent: str
    version: str
    folder: Path
    manifest: AdapterManifest

    @property
    def served_name(self) -> str:
        """The name vLLM serves it under and provenance and caches carry: agent and version together."""
        return f"{self.agent}-{self.version}"


@dataclass(frozen=True)
class BaseShapes:
    """The base model's sizes that a LoRA's weights must match (from its `config.json`)."""

    layers: int
    widths: frozenset[int]

    @classmethod
    def read(cls, model_dir: Path) -> BaseShapes:
        config = json.loads((model_dir / "config.json").read_text())
        hidden = int(config["hidden_size"])
        heads = int(config["num_attention_heads"])
        head_dim = int(config.get("head_dim") or hidden // heads)
        kv_heads = int(config.get("num_key_value_heads") or heads)
        widths = {hidden, int(config["intermediate_size"]), heads * head_dim, kv_heads * head_dim}
        return cls(layers=int(config["num_hidden_layers"]), widths=frozenset(widths))


def base_name(name: str) -> str:
    """A model's comparable name: the last part of a folder path or HF id, lower-cased."""
    return name.rstrip("/").rsplit("/", 1)[-1].lower()


def read_adapter(folder: Path) -> Adapter:
    """The adapter in `folder`, from its manifest; AdapterError when the folder is not a complete one."""
    for required in (MANIFEST, PEFT_CONFIG, PEFT_WEIGHTS):
        if not (folder / required).is_file():
            raise AdapterError(AdapterProblem.INVALID, f"adapter {folder} has no {required}")
    try:
        manifest = AdapterManifest.model_validate_json((folder / MANIFEST).read_text())
    except (OSError, ValidationError) as error:
        raise AdapterError(AdapterProblem.INVALID, f"adapter {folder}: bad {MANIFEST}: {error}") from error
    if not _SAFE_NAME.match(manifest.version):
        raise AdapterError(AdapterProblem.INVALID, f"adapter {folder}: version {manifest.version!r} unsafe")
    return Adapter(agent=manifest.agent, version=manifest.version, folder=folder, manifest=manifest)


def agents(adapters_dir: Path) -> list[str]:
    """The agents that have a folder of adapters."""
    if not adapters_dir.is_dir():
        return []
    return sorted(p.name for p in adapters_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def versions(adapters_dir: Path, agent: str) -> list[Adapter]:
    """The agent's complete adapters, newest first (by the manifest's time, then version name).

    Folders in the making (".tmp-...", "tmp...") and incomplete ones are skipped.
    """
    root = adapters_dir / agent
    if not root.is_dir():
        return []
    found: list[Adapter] = []
    for folder in root.iterdir():
        if not folder.is_dir() or folder.name.startswith((".", "tmp")):
            continue
        try:
            adapter = read_adapter(folder)
        except AdapterError:
            continue
        if adapter.agent == agent:
            found.append(adapter)
    return sorted(found, key=lambda a: (a.manifest.created_at_unix, a.version), reverse=True)


def answers_prompt(adapter: Adapter, prompt_version: str) -> bool:
    """Whether the adapter was trained on this prompt ("" on either side: not known, taken as yes)."""
    trained = adapter.manifest.prompt_version
    return not (prompt_version and trained) or trained == prompt_version


def choose(adapters_dir: Path | None, agent: str, choice: str, prompt_version: str = "") -> Adapter | None:
    """The adapter a setting names: None for the base model ("" or "base"), the newest, or a version.

    "newest" with no adapter at all is the base model; a named version that does not exist is an error.
    With `prompt_version`, "newest" is the newest trained on that prompt, and a named version trained on
    another is an error: an adapter learnt one prompt's answers (the tag agent's choose mode, say) and is
    never served another's.
    """
    if choice in ("", BASE):
        return None
    found = versions(adapters_dir, agent) if adapters_dir is not None else []
    if choice == NEWEST:
        return next((adapter for adapter in found if answers_prompt(adapter, prompt_version)), None)
    for adapter in found:
        if adapter.version == choice:
            if not answers_prompt(adapter, prompt_version):
                raise AdapterError(
                    AdapterProblem.OTHER_PROMPT,
                    f"{adapter.served_name} was trained on prompt {adapter.manifest.prompt_version!r}, "
                    f"{agent} asks {prompt_version!r}",
                )
            return adapter
    where = adapters_dir / agent if adapters_dir is not None else "(no adapters folder set)"
    raise AdapterError(AdapterProblem.NOT_FOUND, f"{agent}: no adapter version {choice!r} in {where}")


def present_ranks(adapters_dir: Path) -> list[int]:
    """The LoRA rank (`r`) of every complete adapter under `adapters_dir`; unreadable configs are skipped."""
    ranks: list[int] = []
    for agent in agents(adapters_dir):
        for adapter in versions(adapters_dir, agent):
            try:
                ranks.append(int(_peft_config(adapter).get("r") or 0))
            except (AdapterError, ValueError):
                continue
    return ranks


def _peft_config(adapter: Adapter) -> dict[str, Any]:
    """The adapter's PEFT config; AdapterError (invalid) when it is unreadable or not a JSON object."""
    try:
        config = json.loads((adapter.folder / PEFT_CONFIG).read_text())
    except (OSError, ValueError) as error:
        raise AdapterError(
            AdapterProblem.INVALID, f"{adapter.served_name}: bad {PEFT_CONFIG}: {error}"
        ) from error
    if not isinstance(config, dict):
        raise AdapterError(AdapterProblem.INVALID, f"{adapter.served_name}: {PEFT_CONFIG} is not an object")
    return config


def check_fits(adapter: Adapter, served_model: str, shapes: BaseShapes | None, max_rank: int) -> None:
    """Raises AdapterError when the adapter was trained on another base model or is too large to serve."""
    config = _peft_config(adapter)
    if str(config.get("peft_type", "")).upper() != "LORA":
        raise AdapterError(
            AdapterProblem.INVALID, f"{adapter.served_name}: not a LoRA ({config.get('peft_type')})"
        )
    rank = int(config.get("r") or 0)
    if not 0 < rank <= max_rank:
        raise AdapterError(
            AdapterProblem.RANK_TOO_HIGH,
            f"{adapter.served_name}: rank {rank}, served ranks are 1..{max_rank}",
        )
    if base_name(adapter.manifest.base_model) != base_name(served_model):
        raise AdapterError(
            AdapterProblem.OTHER_BASE_MODEL,
            f"{adapter.served_name} was trained on {adapter.manifest.base_model!r}, "
            f"the engine serves {served_model!r}",
        )
    if shapes is not None:
        _check_shapes(adapter, shapes)


def _check_shapes(adapter: Adapter, shapes: BaseShapes) -> None:
    """Each LoRA matrix must join a layer the base has, at a width the base has."""
    for name, shape in _tensor_shapes(adapter.folder / PEFT_WEIGHTS).items():
        layer = _LAYER.search(name)
        if layer and int(layer.group(1)) >= shapes.layers:
            raise AdapterError(
                AdapterProblem.OTHER_BASE_MODEL,
                f"{adapter.served_name}: {name} is beyond the base model's {shapes.layers} layers",
            )
        # lora_A is (rank, in), lora_B (out, rank): the width that must match the base is the other one.
        width = shape[-1] if "lora_A" in name else shape[0] if "lora_B" in name else None
        if width is not None and width not in shapes.widths:
            raise AdapterError(
                AdapterProblem.OTHER_BASE_MODEL,
                f"{adapter.served_name}: {name} is {width} wide, the base model's layers are "
                f"{sorted(shapes.widths)}: trained on another base model",
            )


def _tensor_shapes(path: Path) -> dict[str, list[int]]:
    """The tensors' shapes from a safetensors header (8-byte length, then JSON), without loading weights."""
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > _MAX_HEADER_BYTES:
                raise ValueError(f"header of {length} bytes")
            header: dict[str, Any] = json.loads(handle.read(length))
    except (OSError, ValueError, struct.error) as error:
        raise AdapterError(AdapterProblem.INVALID, f"{path}: unreadable safetensors: {error}") from error
    return {
        name: [int(size) for size in entry["shape"]]
        for name, entry in header.items()
        if name != "__metadata__" and isinstance(entry, dict)
    }
