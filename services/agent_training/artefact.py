"""Versioned adapters on disk: `<root>/<agent>/<version>/` in PEFT format plus `recgpt_adapter.json`.

A version folder is written under a dot-name beside its place and renamed into it, then `<agent>/latest` is
replaced by a file naming it: a reader never sees half an adapter, and the newest is one read away. The
layout is what the serving side loads (`newest_adapter`), and an adapter trained on another base model is
refused with the reason (`check_base`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from agent_training.agents import AgentName
from recgpt_serving.llm.models import STAMP_FILE

# The name the serving side reads (agents-serve, issue 10 items 4-5).
MANIFEST_FILE = "recgpt_adapter.json"
LATEST_FILE = "latest"
FORMAT = 1
Method = Literal["sft", "sft-self", "grpo", "grpo-sum"]


class AdapterError(ValueError):
    """An adapter folder that cannot be used: missing, unreadable, or not for this base model."""


class AdapterMismatch(AdapterError):
    """The adapter was trained on another base model than the one served."""


class AdapterManifest(BaseModel):
    format: int = FORMAT
    agent: AgentName
    version: str = Field(min_length=1)
    method: Method
    # The served model's name (recgpt_serving.llm.models.DEFAULT_MODEL_NAME) and its folder's source stamp.
    base_model: str
    base_model_source: dict[str, Any] = Field(default_factory=dict)
    prompt_version: str
    data_fingerprint: str
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    validation: dict[str, Any] = Field(default_factory=dict)
    lora_rank: int = Field(ge=1)
    created_at: str
    # What "newest" is sorted by on the serving side.
    created_at_unix: int = 0
    train_seconds: float = 0.0
    # The version this one continued from (self-training or GRPO on top of SFT), if any.
    parent: str | None = None


def new_version(method: Method, data_fingerprint: str, now: float | None = None) -> str:
    """`<UTC yyyymmddTHHMMSSZ>-<method>-<fingerprint[:8]>`: names sort by time."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now if now is not None else time.time()))
    return f"{stamp}-{method}-{data_fingerprint[:8]}"


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_adapter(
    root: Path, manifest: AdapterManifest, save: Callable[[Path], None], *, make_latest: bool = True
) -> Path:
    """Writes the adapter (`save(folder)` puts the PEFT files there) and its manifest, atomically.

    Returns the version folder. A version that exists already is an error (versions are never rewritten).
    """
    agent_dir = root / manifest.agent
    agent_dir.mkdir(parents=True, exist_ok=True)
    final = agent_dir / manifest.version
    if final.exists():
        raise AdapterError(f"adapter {final} exists already")
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{manifest.version}.", dir=agent_dir))
    try:
        save(staging)
        if not (staging / "adapter_config.json").is_file():
            raise AdapterError("the trainer saved no adapter_config.json (not a PEFT adapter)")
        (staging / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2) + "\n")
        staging.chmod(0o755)
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if make_latest:
        point_latest(agent_dir, manifest.version)
    return final


def point_latest(agent_dir: Path, version: str) -> None:
    handle, temporary = tempfile.mkstemp(prefix=".latest.", dir=agent_dir)
    with os.fdopen(handle, "w") as out:
        out.write(version + "\n")
    os.replace(temporary, agent_dir / LATEST_FILE)


def load_manifest(folder: Path) -> AdapterManifest:
    try:
        return AdapterManifest.model_validate_json((folder / MANIFEST_FILE).read_text())
    except OSError as error:
        raise AdapterError(f"{folder} holds no readable {MANIFEST_FILE}: {error}") from error
    except ValidationError as error:
        raise AdapterError(f"{folder / MANIFEST_FILE} is not an adapter manifest: {error}") from error


def newest_adapter(root: Path, agent: str) -> Path | None:
    """The folder `latest` names, else the newest complete version; None when the agent has none."""
    agent_dir = root / agent
    try:
        named = (agent_dir / LATEST_FILE).read_text().strip()
    except OSError:
        named = ""
    if named and not named.startswith(".") and (agent_dir / named / MANIFEST_FILE).is_file():
        return agent_dir / named
    if not agent_dir.is_dir():
        return None
    versions = sorted(
        child.name
        for child in agent_dir.iterdir()
        if child.is_dir() and not child.name.startswith(".") and (child / MANIFEST_FILE).is_file()
    )
    return agent_dir / versions[-1] if versions else None


def check_base(manifest: AdapterManifest, served_model: str, source_stamp: Mapping[str, Any] | None) -> None:
    """Raises `AdapterMismatch` when the adapter was trained on another model than `served_model`."""
    if manifest.base_model != served_model:
        raise AdapterMismatch(
            f"adapter {manifest.agent}/{manifest.version} was trained on {manifest.base_model!r}, "
            f"not on the served {served_model!r}"
        )
    if (
        source_stamp is not None
        and manifest.base_model_source
        and dict(source_stamp) != manifest.base_model_source
    ):
        raise AdapterMismatch(
            f"adapter {manifest.agent}/{manifest.version} was trained on {manifest.base_model_source}, "
            f"the served model folder comes from {dict(source_stamp)}"
        )


def read_source_stamp(model_folder: Path) -> dict[str, Any]:
    """The model folder's `recgpt-source.json` (which GGUF it was converted from); {} when it has none."""
    try:
        stamp = json.loads((model_folder / STAMP_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return stamp if isinstance(stamp, dict) else {}
