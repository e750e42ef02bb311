"""`python -m recgpt_tools.merge_adapter --agent A --version V`: an agent's LoRA adapter merged into the base
model's weights, as a model folder that vLLM serves without LoRA (`make merge-adapter`).

It writes `<out>/<agent>-<version>/` (the adapter's served name, which the merged engine serves under): the
merged weights in the base model's dtype, the tokenizer with its chat template, and `recgpt_merged.json`
(recgpt_tools.merged_models). The folder is written beside its place and renamed into it. It refuses, with
one line and exit 1, an adapter that does not exist, one trained on another base model (by name, by its
weights' shapes, by the base folder's source stamp), and an output that exists already: a merged version,
like an adapter, is never rewritten.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agent_training.agents import UnknownAgent, resolve
from agent_training.artefact import read_source_stamp
from recgpt_domain.artefact_store import sha256_of
from recgpt_serving.llm import adapter_files
from recgpt_serving.llm.adapter_files import Adapter, AdapterError, BaseShapes
from recgpt_serving.llm.models import DEFAULT_MODEL_NAME
from recgpt_tools.merged_models import MANIFEST, MERGED_DIR, MergedManifest, MergeError, merged_folder

# A LoRA of any rank merges; the rank limit is the shared engine's concern (vLLM pads to it), not this one's.
_ANY_RANK = sys.maxsize


def find_adapter(adapters_dir: Path, agent: str, version: str) -> Adapter:
    """The agent's adapter `version` ("newest": its newest); MergeError when there is none."""
    try:
        adapter = adapter_files.choose(adapters_dir, agent, version)
    except AdapterError as error:
        raise MergeError(str(error)) from None
    if adapter is None:
        raise MergeError(f"{agent} has no adapter in {adapters_dir / agent}")
    return adapter


def check_base(adapter: Adapter, model_dir: Path, served_model: str) -> dict[str, Any]:
    """Refuses an adapter trained on another base model than the folder's; returns the folder's stamp."""
    try:
        shapes = BaseShapes.read(model_dir)
    except (OSError, ValueError, KeyError) as error:
        raise MergeError(f"base model folder {model_dir} unreadable: {error}") from None
    try:
        adapter_files.check_fits(adapter, served_model, shapes, max_rank=_ANY_RANK)
    except AdapterError as error:
        raise MergeError(str(error)) from None
    stamp = read_source_stamp(model_dir)
    trained_on = (adapter.manifest.model_extra or {}).get("base_model_source")
    if stamp and trained_on and trained_on != stamp:
        raise MergeError(
            f"{adapter.served_name} was trained on a base folder made from {trained_on}, "
            f"{model_dir} is made from {stamp}"
        )
    return stamp


def merge(adapter: Adapter, model_dir: Path, out_dir: Path, served_model: str = DEFAULT_MODEL_NAME) -> Path:
    """Merges `adapter` into the base in `model_dir` and writes `<out_dir>/<served name>/`; returns it."""
    final = merged_folder(out_dir, adapter)
    if final.exists():
        raise MergeError(f"{final} exists already (a merged version is never rewritten)")
    stamp = check_base(adapter, model_dir, served_model)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{final.name}.", dir=out_dir))
    try:
        dtype = merge_weights(model_dir, adapter.folder, staging)
        manifest = MergedManifest(
            agent=adapter.agent,
            adapter_version=adapter.version,
            served_name=adapter.served_name,
            prompt_version=adapter.manifest.prompt_version,
            base_model=served_model,
            base_model_source=stamp,
            adapter_sha256={
                name: sha256_of(adapter.folder / name)
                for name in (adapter_files.PEFT_CONFIG, adapter_files.PEFT_WEIGHTS)
            },
            dtype=dtype,
            created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        (staging / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n")
        staging.chmod(0o755)
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def merge_weights(model_dir: Path, adapter_dir: Path, out: Path) -> str:
    """PEFT's merge_and_unload, saved into `out` with the tokenizer; returns the dtype saved (the base's).

    The sum W + BA is taken in float32 and cast back once: in bf16 it would round at every addition.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = json.loads((model_dir / "config.json").read_text())
    dtype_name = str(config.get("dtype") or config.get("torch_dtype") or "float32")
    dtype = getattr(torch, dtype_name, None)
    if not isinstance(dtype, torch.dtype):
        raise MergeError(f"{model_dir / 'config.json'} names dtype {dtype_name!r}")
    base = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.to(dtype).save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(model_dir)).save_pretrained(str(out))
    return dtype_name


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m recgpt_tools.merge_adapter",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--agent", required=True, help="tag_expert, ... (or experts, tags, ...)")
    parser.add_argument("--version", default=adapter_files.NEWEST, help="the adapter's version, or newest")
    parser.add_argument("--adapters-dir", type=Path, default=Path("var/adapters"))
    parser.add_argument("--model-dir", type=Path, default=Path("var/models") / DEFAULT_MODEL_NAME)
    parser.add_argument("--served-model", default=DEFAULT_MODEL_NAME, help="the base model's served name")
    parser.add_argument("--out-dir", type=Path, default=Path("var/models") / MERGED_DIR)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        adapter = find_adapter(args.adapters_dir, resolve(args.agent), args.version)
        folder = merge(adapter, args.model_dir, args.out_dir, args.served_model)
    except (MergeError, UnknownAgent) as error:
        sys.stderr.write(f"merge-adapter: {error}\n")
        return 1
    sys.stdout.write(f"{folder}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
