"""`make train-adaptor`: trains the entity-token adaptor against the served LLM (frozen) on the served
catalogue's items, and writes every item's entity vector as a versioned artefact the agents load.

    python -m agent_training.entity_cli --catalogue var/catalogue --model var/models/smollm2-135m-instruct \\
        --out var/models/entities --steps 200
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import torch

from agent_training.entity_adaptor import AdaptorSettings, AdaptorTrainer
from agent_training.model import BaseModel
from recgpt_domain import entity_artefact
from recgpt_domain.artefact_folder import new_version
from recgpt_domain.catalogue import read_items
from recgpt_domain.entity_artefact import EntityManifest
from recgpt_serving.embedding.runtime import load_bundled

log = logging.getLogger("agent_training.entity")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="train-adaptor", description=__doc__.split("\n")[0])
    parser.add_argument("--catalogue", type=Path, required=True, help="the served catalogue folder")
    parser.add_argument("--model", type=Path, required=True, help="the served LLM's Hugging Face folder")
    parser.add_argument("--out", type=Path, required=True, help="models folder of the entity artefacts")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch decides)")
    for field in fields(AdaptorSettings):
        parser.add_argument(
            f"--{field.name.replace('_', '-')}", type=type(field.default), default=field.default
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    settings = AdaptorSettings(**{field.name: getattr(args, field.name) for field in fields(AdaptorSettings)})
    if settings.steps < 1 or settings.batch_size < 1:
        print("error: --steps and --batch-size must be at least 1", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        base = BaseModel.at(args.model)
        items = sorted(read_items(args.catalogue), key=lambda item: item.item_id)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not items:
        print(f"error: {args.catalogue} holds no items", file=sys.stderr)
        return 2
    started = time.monotonic()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base.folder)
    # float32 on a CPU: bfloat16 kernels are slower there, and the LLM is frozen either way.
    model = AutoModelForCausalLM.from_pretrained(base.folder, dtype=torch.float32)
    embedder = load_bundled()
    embeddings = embedder.encode([item.embedding_text() for item in items]).astype(np.float32)
    trainer = AdaptorTrainer(model, tokenizer, settings)

    def progress(step: int, loss: float) -> None:
        if step % 25 == 0 or step == settings.steps - 1:
            log.info(f"step {step + 1}/{settings.steps}: loss {loss:.3f}")

    adaptor, figures = trainer.train(items, embeddings, progress)
    vectors = trainer.vectors(adaptor, embeddings)
    manifest = EntityManifest(
        version=new_version(),
        llm_model=base.served_name,
        llm_hidden_size=int(vectors.shape[1]),
        llm_source=base.source_stamp,
        embedding_model=embedder.model_name,
        embedding_dimension=embedder.dimension,
        items=len(items),
        items_fingerprint="",
        hyperparameters=asdict(settings),
        validation=figures,
        created_at_unix=int(time.time()),
        train_seconds=round(time.monotonic() - started, 1),
    )
    folder = entity_artefact.write(
        args.out, manifest, [item.item_id for item in items], vectors, adaptor.state_dict()
    )
    print(f"entity tokens for {len(items)} items written to {folder}")
    print(
        "held-out items' answer cross-entropy (nats/token): "
        f"full text {figures.get('answer_nats_full_text', float('nan')):.3f}, "
        f"mean of the title's token embeddings {figures.get('answer_nats_title_mean', float('nan')):.3f}, "
        f"entity token {figures.get('answer_nats_entity', float('nan')):.3f} "
        f"({int(figures.get('validation_items', 0))} items, {manifest.train_seconds:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
