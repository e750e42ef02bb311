"""The entity-token adaptor trains against a frozen LLM: a tiny random Llama here, with a word-level
tokenizer and a chat template, so that the test runs in seconds; the served SmolLM2 runs in
`make train-adaptor`."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from agent_training.entity_adaptor import PLACEHOLDER, AdaptorSettings, AdaptorTrainer, answer_text
from recgpt_domain.catalogue import Item

WORDS = ["red", "blue", "green", "big", "small", "lamp", "mug", "pen", "box", "Home", "Office"]
SPECIAL = ["<pad>", "<eos>", "<unk>", "user:", "assistant:", "What", "is", "?", "(category:", ")"]
TEMPLATE = "{% for m in messages %}user: {{ m['content'] }} {% endfor %}assistant:"


def tokenizer() -> Any:
    vocab = {token: index for index, token in enumerate([*SPECIAL, *WORDS])}
    model = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    model.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    wrapped = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=model, eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    )
    wrapped.chat_template = TEMPLATE
    return wrapped


def items() -> list[Item]:
    made = []
    for n, (colour, size, thing) in enumerate(
        (c, s, t) for c in WORDS[:3] for s in WORDS[3:5] for t in WORDS[5:9]
    ):
        category = "Home" if thing in ("lamp", "mug") else "Office"
        made.append(Item(item_id=f"i{n}", title=f"{colour} {size} {thing}", category_path=[category]))
    return made


def trainer(steps: int) -> AdaptorTrainer:
    torch.manual_seed(0)
    words = tokenizer()
    config = LlamaConfig(
        vocab_size=len(words),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        # Far from uniform logits, so that what the entity is changes what the model says.
        initializer_range=0.5,
    )
    settings = AdaptorSettings(hidden=32, steps=steps, batch_size=8, learning_rate=1e-2, validation_items=4)
    model = LlamaForCausalLM(config)  # type: ignore[no-untyped-call]
    return AdaptorTrainer(model, words, settings)


def test_the_question_is_templated_around_the_entity_and_the_answer_names_title_and_category() -> None:
    made = trainer(steps=1)
    words = made.tokenizer
    assert words.decode(made.prompt.before) == "user: What is"
    assert words.decode(made.prompt.after) == "? assistant:"
    assert PLACEHOLDER not in words.decode(made.prompt.before + made.prompt.after)
    assert answer_text(items()[0]) == "red big lamp (category: Home)"


def test_training_lowers_the_answer_loss_and_every_item_gets_a_vector_of_the_llm_width() -> None:
    catalogue = items()
    embeddings = np.random.default_rng(0).normal(size=(len(catalogue), 8)).astype(np.float32)
    made = trainer(steps=100)
    losses: list[float] = []
    adaptor, figures = made.train(catalogue, embeddings, lambda step, loss: losses.append(loss))
    assert len(losses) == 100 and np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10])
    assert figures["validation_items"] == 4.0
    assert set(figures) >= {"answer_nats_full_text", "answer_nats_title_mean", "answer_nats_entity"}
    vectors = made.vectors(adaptor, embeddings)
    assert vectors.shape == (len(catalogue), 32) and np.isfinite(vectors).all()
    # The LLM stayed frozen: only the adaptor learnt.
    assert not any(parameter.requires_grad for parameter in made.model.parameters())
