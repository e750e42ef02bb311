"""The training loop of one ensemble member: softmax losses, a validation pass per epoch, early stop.

The item losses are a full softmax while the catalogue is small enough to embed at every step
(`FULL_SOFTMAX_MAX_ITEMS`), a logQ-corrected sampled softmax beyond (`TrainSettings.softmax` overrides).

Runs alone or as one of several processes under torchrun (DistributedDataParallel: gloo on CPU, NCCL on
GPUs); every process validates the same weights, so all of them stop at the same epoch.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch
import torch.distributed as dist
from pydantic import BaseModel, Field
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm  # type: ignore[import-untyped]

from recgpt_domain.towers.model import TowerConfig, Towers, right_aligned
from towers.batches import Proposal, TagSampler, batches, windows
from towers.data import Example, TrainingData
from towers.ranking import metrics_from_ranks, target_ranks

log = logging.getLogger(__name__)

# Above this many items a full softmax embeds too much at every step: "auto" samples its negatives.
FULL_SOFTMAX_MAX_ITEMS = 100_000


class TrainSettings(BaseModel):
    """How long and how hard to train; stored with the artefact."""

    # The reported configuration (three members in about 20 minutes on two CPU cores for Amazon).
    max_epochs: int = Field(default=35, ge=1)
    # Stop after this many epochs without a better validation score.
    patience: int = Field(default=5, ge=1)
    batch_size: int = Field(default=128, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0)
    # Decoupled (AdamW) weight decay.
    weight_decay: float = Field(default=0.0, ge=0)
    # "cosine": the learning rate decays to a tenth over max_epochs; "constant": it stays.
    schedule: Literal["constant", "cosine"] = "constant"
    # Cap on optimiser steps per epoch (0: the whole epoch); smoke runs use it.
    max_steps_per_epoch: int = Field(default=0, ge=0)
    validation_share: float = Field(default=0.1, gt=0, lt=1)
    # L_tag on at most this many positions per batch, drawn at random (0: all); long sequences need fewer.
    tag_positions: int = Field(default=0, ge=0)
    # Folds of validation users the fusion weights are cross-fitted over (towers.cross_fit).
    fusion_folds: int = Field(default=5, ge=1)
    # "full": every item in every softmax; "sampled": the target against `negatives` drawn items, logQ
    # corrected; "auto": full up to FULL_SOFTMAX_MAX_ITEMS items, sampled beyond.
    softmax: Literal["auto", "full", "sampled"] = "auto"
    negatives: int = Field(default=1024, ge=1)
    # "on": train the ranker over the routes' candidates and serve it where it beats the weighted fusion.
    ranker: Literal["on", "off"] = "on"

    def sampled(self, items: int) -> bool:
        """Whether a catalogue of `items` trains with a sampled softmax."""
        return self.softmax == "sampled" or (self.softmax == "auto" and items > FULL_SOFTMAX_MAX_ITEMS)


@dataclass(frozen=True)
class TextInputs:
    """Frozen MiniLM vectors the towers read (rows aligned with the data's items, tags, categories)."""

    item_text: torch.Tensor
    item_description: torch.Tensor
    tag_text: torch.Tensor
    category_text: torch.Tensor


@dataclass
class Member:
    """One trained model: what serving needs, and how it was chosen."""

    seed: int
    epoch: int
    item_vectors: npt.NDArray[np.float32]
    user_state: dict[str, torch.Tensor]
    tag_state: dict[str, torch.Tensor]
    validation: dict[str, float]
    epochs_run: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Process:
    rank: int = 0
    world: int = 1

    @property
    def leader(self) -> bool:
        return self.rank == 0


def selection_score(metrics: dict[str, float]) -> float:
    """What picks the epoch: recall at both cut-offs, so neither the head nor the tail alone decides."""
    return metrics["recall@10"] + metrics["recall@50"]


@torch.no_grad()
def user_vectors(model: Towers, items: torch.Tensor, histories: list[list[int]]) -> torch.Tensor:
    """The user tower's state after each history's last item, in batches."""
    out = []
    for start in range(0, len(histories), 512):
        inputs, padding = right_aligned(histories[start : start + 512], model.config.max_len)
        out.append(model.user_states(items, inputs, padding)[:, -1])
    return torch.cat(out) if out else torch.zeros(0, items.shape[1])


@torch.no_grad()
def validate(model: Towers, examples: list[Example]) -> dict[str, float]:
    model.eval()
    items = model.item_vectors()
    histories = [example.history for example in examples]
    scores = (user_vectors(model, items, histories) @ items.T).numpy()
    ranks = target_ranks(scores, histories, [example.target for example in examples])
    return metrics_from_ranks(ranks)


def train_member(
    data: TrainingData,
    text: TextInputs,
    config: TowerConfig,
    settings: TrainSettings,
    seed: int,
    process: Process,
) -> Member:
    torch.manual_seed(seed)
    model = Towers(config, text.item_text, text.item_description, text.tag_text, text.category_text)
    trained: torch.nn.Module = DistributedDataParallel(model) if process.world > 1 else model
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(
            optimiser, settings.max_epochs, eta_min=settings.learning_rate / 10
        )
        if settings.schedule == "cosine"
        else None
    )
    chunks = windows(data.sequences, config.max_len)
    categories = torch.tensor(data.item_category, dtype=torch.long)
    sampler = TagSampler(data.item_tags)
    items = len(data.item_category)
    proposal = Proposal.of(data.sequences, items, settings.negatives) if settings.sampled(items) else None
    generator = torch.Generator().manual_seed(seed)
    best_score, best_epoch, best_state = -1.0, 0, copy.deepcopy(model.state_dict())
    best_metrics: dict[str, float] = {}
    history: list[dict[str, float]] = []
    started = time.monotonic()
    bar = tqdm(range(1, settings.max_epochs + 1), desc=f"seed {seed}", disable=not process.leader, unit="ep")
    epoch = 0
    for epoch in bar:
        model.train()
        losses = []
        for step, batch in enumerate(
            batches(chunks, settings.batch_size, categories, sampler, generator, process.rank, process.world)
        ):
            if settings.max_steps_per_epoch and step >= settings.max_steps_per_epoch:
                break
            tags = batch.tags
            if settings.tag_positions and tags.numel() > settings.tag_positions:
                dropped = torch.randperm(tags.numel(), generator=generator)[settings.tag_positions :]
                tags = tags.clone()
                tags[dropped] = -1
            negatives = proposal.draw(generator) if proposal is not None else None
            loss = trained(batch.inputs, batch.padding, batch.targets, batch.categories, tags, negatives)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        if scheduler is not None:
            scheduler.step()
        metrics = (
            validate(model, data.validation) if data.validation else {"recall@10": 0.0, "recall@50": 0.0}
        )
        score = selection_score(metrics)
        history.append({"epoch": epoch, "loss": float(np.mean(losses)) if losses else 0.0, **metrics})
        if score > best_score:
            best_score, best_epoch, best_metrics = score, epoch, metrics
            best_state = copy.deepcopy(model.state_dict())
        bar.set_postfix(
            loss=f"{history[-1]['loss']:.3f}",
            r10=f"{metrics['recall@10']:.3f}",
            r50=f"{metrics['recall@50']:.3f}",
            best=best_epoch,
        )
        if epoch - best_epoch >= settings.patience:
            break
    bar.close()
    if process.world > 1:
        dist.barrier()
    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        item_vectors = model.item_vectors().numpy().astype(np.float32)
    return Member(
        seed=seed,
        epoch=best_epoch,
        item_vectors=item_vectors,
        user_state={k: v.clone() for k, v in model.user.state_dict().items()},
        tag_state={k: v.clone() for k, v in model.tag.state_dict().items()},
        validation=best_metrics,
        epochs_run=epoch,
        seconds=time.monotonic() - started,
        history=history,
    )
