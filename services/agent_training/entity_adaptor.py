"""Entity tokens (RecGPT-V2's hybrid representation): a 2-layer MLP that projects an item's text embedding
(the index's) into the served LLM's input-embedding space, so that an item in a prompt costs one token
instead of its title's dozen.

Trained with the LLM frozen, on the catalogue's own texts (no user data), two losses on one answer:
- self-perception: asked "What is <entity>?", the LLM should answer the item's title and category
  (cross-entropy on the answer's tokens);
- alignment: on that answer, the LLM's next-token distributions with the entity should match the ones it has
  when the question names the item's full text (KL divergence to the text-prompted teacher).
Held-out items measure it against the full text (the ceiling) and against the untrained stand-in, the mean
of the title's own token embeddings.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from recgpt_domain.catalogue import Item

# Where the entity goes in the question; replaced by its embedding (or, for the teacher, the item's text).
PLACEHOLDER = "<<entity>>"
QUESTION = f"What is {PLACEHOLDER}?"
MAX_TITLE_CHARS = 80


@dataclass(frozen=True)
class AdaptorSettings:
    hidden: int = 1024
    steps: int = 200
    batch_size: int = 8
    learning_rate: float = 1e-3
    # The weight of the alignment (KL) loss beside self-perception's cross-entropy.
    alignment_weight: float = 1.0
    max_answer_tokens: int = 24
    validation_items: int = 64
    seed: int = 0


class Adaptor(nn.Module):
    """text embedding -> Linear -> GELU -> Linear -> the LLM's input-embedding space; the output starts at
    the scale of the LLM's token embeddings so that the first steps are not spent finding it."""

    def __init__(self, embedding_dimension: int, llm_hidden_size: int, hidden: int, scale: float) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(embedding_dimension, hidden), nn.GELU(), nn.Linear(hidden, llm_hidden_size)
        )
        self.scale = nn.Parameter(torch.tensor(float(scale)))

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        projected: torch.Tensor = self.layers(embeddings)
        scaled: torch.Tensor = projected / projected.norm(dim=-1, keepdim=True).clamp_min(1e-6) * self.scale
        return scaled


def item_text(item: Item) -> str:
    """What the teacher's question names: the item's title (cut as the behaviour context cuts it)."""
    title = " ".join(item.title.split()) or item.item_id
    return title if len(title) <= MAX_TITLE_CHARS else title[: MAX_TITLE_CHARS - 1].rstrip() + "…"


def answer_text(item: Item) -> str:
    """What the LLM should say the entity is."""
    category = item.category or "uncategorised"
    return f"{item_text(item)} (category: {category})"


@dataclass(frozen=True)
class _Example:
    answer: list[int]
    teacher_prompt: list[int]
    embedding: npt.NDArray[np.float32]
    title_ids: list[int]


@dataclass(frozen=True)
class _Prompt:
    """The chat-templated question around the entity, as token ids before and after it."""

    before: list[int]
    after: list[int]


class AdaptorTrainer:
    """Trains an `Adaptor` against a frozen causal LM (`model`, Hugging Face) and its `tokenizer`."""

    def __init__(self, model: Any, tokenizer: Any, settings: AdaptorSettings) -> None:
        self.model = model.eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.tokenizer = tokenizer
        self.settings = settings
        self.table = model.get_input_embeddings()
        self.prompt = self._prompt()
        self.end = self._end_ids()

    def _prompt(self) -> _Prompt:
        rendered = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": QUESTION}], add_generation_prompt=True, tokenize=False
        )
        before, after = str(rendered).split(PLACEHOLDER)
        return _Prompt(self._ids(before), self._ids(after))

    def _end_ids(self) -> list[int]:
        eos = self.tokenizer.eos_token_id
        return [] if eos is None else [int(eos)]

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def examples(self, items: Sequence[Item], embeddings: npt.NDArray[np.float32]) -> list[_Example]:
        made = []
        for item, embedding in zip(items, embeddings, strict=True):
            title = self._ids(item_text(item))
            answer = self._ids(answer_text(item))[: self.settings.max_answer_tokens] + self.end
            teacher = self.prompt.before + title + self.prompt.after
            made.append(_Example(answer, teacher, embedding, title))
        return made

    def train(
        self,
        items: Sequence[Item],
        embeddings: npt.NDArray[np.float32],
        progress: Callable[[int, float], None] | None = None,
    ) -> tuple[Adaptor, dict[str, float]]:
        """The trained adaptor and the held-out items' figures (`validation_items` of them, drawn by seed)."""
        settings = self.settings
        torch.manual_seed(settings.seed)
        examples = self.examples(items, embeddings)
        order = list(range(len(examples)))
        random.Random(settings.seed).shuffle(order)
        held = min(settings.validation_items, len(examples) // 5)
        validation = [examples[i] for i in order[:held]]
        train = [examples[i] for i in order[held:]] or validation
        scale = float(self.table.weight.detach().float().norm(dim=-1).mean())
        adaptor = Adaptor(embeddings.shape[1], self.table.weight.shape[1], settings.hidden, scale)
        optimiser = torch.optim.AdamW(adaptor.parameters(), lr=settings.learning_rate, weight_decay=0.0)
        rng = random.Random(settings.seed + 1)
        for step in range(settings.steps):
            batch = rng.sample(train, min(settings.batch_size, len(train)))
            adaptor.train()
            loss = self._loss(adaptor, batch)
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            if progress is not None:
                progress(step, float(loss.detach()))
        figures = self.evaluate(adaptor, validation) if validation else {}
        figures["validation_items"] = float(len(validation))
        return adaptor, figures

    def _embed(self, ids: list[int]) -> torch.Tensor:
        embedded: torch.Tensor = self.table(torch.tensor(ids, dtype=torch.long)).float()
        return embedded

    def _answer_logits(self, prompts: list[torch.Tensor], answers: list[list[int]]) -> list[torch.Tensor]:
        """Each sequence is prompt embeddings + the answer's; the logits that predict the answer's tokens."""
        sequences = [
            torch.cat([prompt, self._embed(answer)]) for prompt, answer in zip(prompts, answers, strict=True)
        ]
        length = max(len(sequence) for sequence in sequences)
        width = sequences[0].shape[1]
        inputs = torch.zeros(len(sequences), length, width)
        mask = torch.zeros(len(sequences), length, dtype=torch.long)
        for row, sequence in enumerate(sequences):
            inputs[row, : len(sequence)] = sequence
            mask[row, : len(sequence)] = 1
        dtype = self.table.weight.dtype
        logits = self.model(inputs_embeds=inputs.to(dtype), attention_mask=mask).logits.float()
        return [
            logits[row, len(prompt) - 1 : len(prompt) - 1 + len(answer)]
            for row, (prompt, answer) in enumerate(zip(prompts, answers, strict=True))
        ]

    def _entity_prompts(self, entities: torch.Tensor) -> list[torch.Tensor]:
        before, after = self._embed(self.prompt.before), self._embed(self.prompt.after)
        return [torch.cat([before, entity[None, :], after]) for entity in entities]

    def _loss(self, adaptor: Adaptor, batch: list[_Example]) -> torch.Tensor:
        entities = adaptor(torch.from_numpy(np.stack([example.embedding for example in batch])))
        answers = [example.answer for example in batch]
        student = self._answer_logits(self._entity_prompts(entities), answers)
        loss = _cross_entropy(student, answers)
        if self.settings.alignment_weight > 0:
            with torch.no_grad():
                teacher = self._answer_logits(
                    [self._embed(example.teacher_prompt) for example in batch], answers
                )
            loss = loss + self.settings.alignment_weight * _kl(teacher, student)
        return loss

    def evaluate(self, adaptor: Adaptor, examples: list[_Example]) -> dict[str, float]:
        """Answer cross-entropy (nats per token) on `examples`: with the item's full text in the question,
        with the mean of its title's token embeddings as the entity, and with the adaptor's entity."""
        adaptor.eval()
        answers = [example.answer for example in examples]
        with torch.no_grad():
            text = _cross_entropy(
                self._answer_logits([self._embed(e.teacher_prompt) for e in examples], answers), answers
            )
            means = torch.stack([self._embed(e.title_ids).mean(0) for e in examples])
            mean = _cross_entropy(self._answer_logits(self._entity_prompts(means), answers), answers)
            entities = adaptor(torch.from_numpy(np.stack([e.embedding for e in examples])))
            learned = _cross_entropy(self._answer_logits(self._entity_prompts(entities), answers), answers)
        return {
            "answer_nats_full_text": float(text),
            "answer_nats_title_mean": float(mean),
            "answer_nats_entity": float(learned),
        }

    def vectors(self, adaptor: Adaptor, embeddings: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Every item's entity vector, in rows of `embeddings`."""
        adaptor.eval()
        rows = []
        with torch.no_grad():
            for start in range(0, len(embeddings), 512):
                rows.append(adaptor(torch.from_numpy(embeddings[start : start + 512])).numpy())
        return np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)


def _cross_entropy(logits: list[torch.Tensor], answers: list[list[int]]) -> torch.Tensor:
    return nn.functional.cross_entropy(
        torch.cat(logits), torch.tensor([token for answer in answers for token in answer], dtype=torch.long)
    )


def _kl(teacher: list[torch.Tensor], student: list[torch.Tensor]) -> torch.Tensor:
    """KL(teacher || student) per answer token."""
    return nn.functional.kl_div(
        nn.functional.log_softmax(torch.cat(student), dim=-1),
        nn.functional.log_softmax(torch.cat(teacher), dim=-1),
        log_target=True,
        reduction="batchmean",
    )
