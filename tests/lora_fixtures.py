"""A small real LoRA adapter in PEFT format, randomly initialised, for proving that vLLM loads and serves one.

Random A and B (`init_lora_weights=False`): unlike PEFT's default (B = 0) the adapter changes the model's
output, so a test can tell an answer of the adapter from one of the base model.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

ADAPTER_MANIFEST = "recgpt_adapter.json"


def write_lora_adapter(
    base_folder: Path,
    out: Path,
    *,
    agent: str,
    version: str,
    base_model: str,
    rank: int = 8,
    seed: int = 0,
    created_at_unix: int | None = None,
) -> Path:
    """Writes `<out>/<agent>/<version>/` (PEFT files, then our manifest) and returns that folder."""
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base_folder), dtype=torch.float32)
    config = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        target_modules=["q_proj", "v_proj"],
        init_lora_weights=False,
        task_type="CAUSAL_LM",
    )
    folder = out / agent / version
    get_peft_model(model, config).save_pretrained(str(folder))
    manifest = {
        "agent": agent,
        "version": version,
        "base_model": base_model,
        "created_at_unix": int(time.time()) if created_at_unix is None else created_at_unix,
        "note": "random LoRA written by a test fixture",
    }
    (folder / ADAPTER_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return folder
