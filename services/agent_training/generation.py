"""Answers of a (possibly adapted) model to agents' prompts, with Hugging Face generate on the CPU.

Unconstrained decoding: vLLM serves the agents with the answer's JSON schema enforced, so what is measured
here is a floor on the share of parseable answers, not the served share.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from recgpt_serving.llm.client import Message


def chat_text(tokenizer: Any, messages: Sequence[Message]) -> str:
    return str(tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False))


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[Message]],
    *,
    max_new_tokens: int,
    samples: int = 1,
    temperature: float = 0.0,
    batch_size: int = 8,
) -> list[list[str]]:
    """`samples` answers per prompt (greedy when temperature is 0), in prompt order."""
    import torch

    tokenizer.padding_side = "left"
    model.eval()
    answers: list[list[str]] = []
    for start in range(0, len(prompts), batch_size):
        batch = [chat_text(tokenizer, prompt) for prompt in prompts[start : start + batch_size]]
        encoded = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature, "top_p": 0.95}
            if temperature > 0
            else {"do_sample": False}
        )
        with torch.no_grad():
            output = model.generate(
                **encoded,
                max_new_tokens=max_new_tokens,
                num_return_sequences=samples,
                pad_token_id=tokenizer.pad_token_id,
                **sampling,
            )
        width = encoded["input_ids"].shape[1]
        texts = tokenizer.batch_decode(output[:, width:], skip_special_tokens=True)
        for row in range(len(batch)):
            answers.append([text.strip() for text in texts[row * samples : (row + 1) * samples]])
    return answers
