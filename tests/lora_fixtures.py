"""A small real LoRA adapter in PEFT format, randomly initialised, for proving that vLLM loads and serves one;
and a tiny random base model to put one on.

Random A and B (`init_lora_weights=False`): unlike PEFT's default (B = 0) the adapter changes the model's
output, so a test can tell an answer of the adapter from one of the base model.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

ADAPTER_MANIFEST = "recgpt_adapter.json"
# What a model folder needs beside its weights to be served: the tokenizer, its chat template, the stamp.
TOKENIZER_FILES = (
    "chat_template.jinja",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "recgpt-source.json",
)


def write_tiny_model(served_folder: Path, out: Path, seed: int = 0) -> Path:
    """A 2-layer, 16-wide random Llama with the served model's tokenizer, chat template and source stamp:
    loads, merges and saves in a second on a CPU."""
    out.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        if (served_folder / name).is_file():
            shutil.copy(served_folder / name, out / name)
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(str(out))  # type: ignore[no-untyped-call]
    return out


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
