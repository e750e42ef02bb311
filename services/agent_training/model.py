"""The base model the platform serves, as a Hugging Face folder, and the LoRA configuration trained on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_training.artefact import AdapterError, check_base, load_manifest, read_source_stamp
from recgpt_serving.llm.models import DEFAULT_MODEL_NAME

# The projections vLLM's LoRA kernels serve for Llama-style models (SmolLM2): no embeddings, no lm_head.
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# vLLM's default --max-lora-rank.
MAX_SERVED_RANK = 16


@dataclass(frozen=True)
class BaseModel:
    folder: Path
    # The name vLLM serves it under, recorded in every adapter's manifest.
    served_name: str = DEFAULT_MODEL_NAME
    source_stamp: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def at(cls, folder: Path, served_name: str = DEFAULT_MODEL_NAME) -> BaseModel:
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(
                f"{folder} is no model folder (no config.json): build it with recgpt-llm-model --out {folder}"
            )
        return cls(folder.resolve(), served_name, read_source_stamp(folder))


def default_model_folder(var_dir: Path) -> Path:
    """Where `make run` keeps the converted served model."""
    return var_dir / "models" / DEFAULT_MODEL_NAME


@dataclass(frozen=True)
class LoraSettings:
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05

    def config(self) -> Any:
        from peft import LoraConfig

        if not 1 <= self.rank <= MAX_SERVED_RANK:
            raise ValueError(
                f"LoRA rank must be 1..{MAX_SERVED_RANK} (what vLLM serves by default), got {self.rank}"
            )
        return LoraConfig(
            r=self.rank,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=list(LORA_TARGETS),
            task_type="CAUSAL_LM",
        )


def load_tokenizer(base: BaseModel) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base.folder))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(base: BaseModel, adapter: Path | None = None, *, trainable: bool = False) -> Any:
    """The base model in float32 (CPU training), with `adapter` applied when given (checked first)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base.folder), dtype=torch.float32)
    if adapter is None:
        return model
    manifest = load_manifest(adapter)
    check_base(manifest, base.served_name, base.source_stamp or None)
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(model, str(adapter), is_trainable=trainable)
    except (OSError, ValueError, RuntimeError) as error:
        raise AdapterError(f"{adapter} does not load onto {base.folder}: {error}") from error
