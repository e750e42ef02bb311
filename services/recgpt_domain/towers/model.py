"""The three towers of RecGPT-V1's retrieval, in torch: item, user (self-attention over the sequence), tag.

Item vectors live in one space that all three towers score against by inner product: the user tower's
output, a tag's vector and a category's vector (categories are embedded by the tag tower from their names).
The item losses are a full softmax over the catalogue, or, where the catalogue is too large to embed at
every step, a sampled one: the target against items drawn from a proposal, each logit less the log of its
expected count (logQ), so the sampled loss estimates the full one instead of favouring popular items.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from pydantic import BaseModel, Field
from torch import nn
from torch.nn import functional


class TowerConfig(BaseModel):
    """Shapes and regularisation of one model; stored with the artefact."""

    dim: int = Field(default=64, ge=8)
    layers: int = Field(default=2, ge=1)
    heads: int = Field(default=2, ge=1)
    max_len: int = Field(default=50, ge=2)
    dropout: float = Field(default=0.5, ge=0, lt=1)
    text_dim: int = Field(default=384, ge=1)
    # L_col + alpha·L_tag + (1 - alpha)·L_category (RecGPT-V1: alpha = 0.5).
    alpha: float = Field(default=0.5, ge=0, le=1)
    # Weight of the tag and category terms together against L_col.
    side_weight: float = Field(default=1.0, ge=0)
    # 0: logits are inner products. Above 0: cosine similarities divided by it (every vector L2-normalised,
    # so each ensemble member weighs the same in the concatenated inner product).
    temperature: float = Field(default=0.0, ge=0)
    # Share of item id embeddings zeroed per training step, so the text projections carry the long tail.
    id_dropout: float = Field(default=0.0, ge=0, lt=1)

    @property
    def cosine(self) -> bool:
        """Whether every tower's output is L2-normalised (cosine logits)."""
        return self.temperature > 0


class ItemTower(nn.Module):
    """Item id embedding plus projections of the item's frozen text and description vectors."""

    def __init__(self, items: int, config: TowerConfig) -> None:
        super().__init__()
        self.ids = nn.Embedding(items, config.dim)
        nn.init.normal_(self.ids.weight, std=0.02)
        self.text = nn.Linear(config.text_dim, config.dim)
        self.description = nn.Linear(config.text_dim, config.dim, bias=False)
        self.id_dropout = config.id_dropout
        self.normalised = config.cosine

    def forward(
        self, text: torch.Tensor, description: torch.Tensor, rows: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Every item's vector, or those of `rows` alone (`text` and `description` then of those rows)."""
        ids = self.ids.weight if rows is None else self.ids(rows)
        if self.training and self.id_dropout > 0:
            kept = torch.rand(ids.shape[0], 1, device=ids.device) >= self.id_dropout
            ids = ids * kept
        out: torch.Tensor = ids + self.text(text) + self.description(description)
        return functional.normalize(out, dim=-1) if self.normalised else out


class UserTower(nn.Module):
    """Causal self-attention over the ordered item vectors (SASRec-style); position t summarises items ≤ t."""

    def __init__(self, config: TowerConfig) -> None:
        super().__init__()
        self.heads = config.heads
        self.scale = math.sqrt(config.dim)
        self.positions = nn.Embedding(config.max_len, config.dim)
        layer = nn.TransformerEncoderLayer(
            config.dim,
            config.heads,
            dim_feedforward=config.dim * 2,
            dropout=config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.dim)
        self.dropout = nn.Dropout(config.dropout)
        self.normalised = config.cosine

    def forward(self, sequence: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """`sequence` (batch, length, dim) right-aligned, `padding` (batch, length) True where empty."""
        _batch, length, _ = sequence.shape
        positions = torch.arange(length, device=sequence.device)
        x = sequence * self.scale + self.positions(positions)[None]
        x = self.dropout(x) * (~padding)[..., None]
        blocked = torch.ones(length, length, dtype=torch.bool, device=sequence.device).triu(1)
        blocked = blocked[None] | padding[:, None, :]
        # A position always sees itself, so an empty one never attends over nothing.
        blocked = blocked & ~torch.eye(length, dtype=torch.bool, device=sequence.device)[None]
        mask = blocked.repeat_interleave(self.heads, dim=0)
        out: torch.Tensor = self.norm(self.encoder(x, mask=mask))
        return functional.normalize(out, dim=-1) if self.normalised else out


class TagTower(nn.Module):
    """A tag's (or category name's) frozen text vector mapped into the item space."""

    def __init__(self, config: TowerConfig) -> None:
        super().__init__()
        self.linear = nn.Linear(config.text_dim, config.dim)
        self.hidden = nn.Sequential(
            nn.Linear(config.text_dim, config.dim * 2), nn.GELU(), nn.Linear(config.dim * 2, config.dim)
        )
        self.normalised = config.cosine

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear(text) + self.hidden(text)
        return functional.normalize(out, dim=-1) if self.normalised else out


@dataclass(frozen=True)
class Negatives:
    """Items drawn (with replacement) for one step's sampled softmax, and every item's log expected count
    among them: log(n · Q(item)) for n draws from the proposal Q."""

    rows: torch.Tensor  # (n,)
    log_expected: torch.Tensor  # (items,)


def sampled_cross_entropy(
    queries: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor,
    positive_rows: torch.Tensor,
    drawn: Negatives,
    scale: float,
) -> torch.Tensor:
    """Each query's positive against the shared drawn negatives, every logit corrected by logQ; a draw that
    is the query's own positive (an accidental hit) is masked out rather than counted as a negative."""
    positive = (queries * positives).sum(-1) * scale - drawn.log_expected[positive_rows]
    negative = queries @ negatives.T * scale - drawn.log_expected[drawn.rows][None]
    negative = negative.masked_fill(positive_rows[:, None] == drawn.rows[None], float("-inf"))
    logits = torch.cat([positive[:, None], negative], dim=1)
    return functional.cross_entropy(logits, torch.zeros(len(queries), dtype=torch.long, device=logits.device))


class Towers(nn.Module):
    """The three towers and the frozen text inputs they read during training."""

    def __init__(
        self,
        config: TowerConfig,
        item_text: torch.Tensor,
        item_description: torch.Tensor,
        tag_text: torch.Tensor,
        category_text: torch.Tensor,
    ) -> None:
        super().__init__()
        self.config = config
        self.item = ItemTower(item_text.shape[0], config)
        self.user = UserTower(config)
        self.tag = TagTower(config)
        self.register_buffer("item_text", item_text, persistent=False)
        self.register_buffer("item_description", item_description, persistent=False)
        self.register_buffer("tag_text", tag_text, persistent=False)
        self.register_buffer("category_text", category_text, persistent=False)

    def item_vectors(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Every item's vector, or those of `rows` alone (what a sampled softmax needs)."""
        if rows is None:
            everything: torch.Tensor = self.item(self.item_text, self.item_description)
            return everything
        some: torch.Tensor = self.item(self.item_text[rows], self.item_description[rows], rows)  # type: ignore[index]
        return some

    def user_states(self, items: torch.Tensor, inputs: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.user(items[inputs], padding)
        return out

    def forward(
        self,
        inputs: torch.Tensor,
        padding: torch.Tensor,
        targets: torch.Tensor,
        target_categories: torch.Tensor,
        target_tags: torch.Tensor,
        negatives: Negatives | None = None,
    ) -> torch.Tensor:
        """The training loss for a batch; targets are flat over the batch's non-empty positions. With
        `negatives`, the item losses are sampled softmaxes and only the batch's and the drawn items are
        embedded."""
        scale = 1 / self.config.temperature if self.config.cosine else 1.0
        tagged = target_tags >= 0
        if negatives is None:
            items = self.item_vectors()
            states = self.user_states(items, inputs, padding)[~padding]
            loss_col = functional.cross_entropy(states @ items.T * scale, targets)
            if bool(tagged.any()):
                tags = self.tag(self.tag_text[target_tags[tagged]])  # type: ignore[index]
                loss_tag = functional.cross_entropy(tags @ items.T * scale, targets[tagged])
            else:
                loss_tag = items.sum() * 0.0
        else:
            rows = torch.unique(torch.cat([inputs.flatten(), targets, negatives.rows]))
            vectors = self.item_vectors(rows)
            states = self.user(vectors[torch.searchsorted(rows, inputs)], padding)[~padding]
            target_vectors = vectors[torch.searchsorted(rows, targets)]
            drawn = vectors[torch.searchsorted(rows, negatives.rows)]
            loss_col = sampled_cross_entropy(states, target_vectors, drawn, targets, negatives, scale)
            if bool(tagged.any()):
                tags = self.tag(self.tag_text[target_tags[tagged]])  # type: ignore[index]
                loss_tag = sampled_cross_entropy(
                    tags, target_vectors[tagged], drawn, targets[tagged], negatives, scale
                )
            else:
                loss_tag = vectors.sum() * 0.0
        categories = self.tag(self.category_text)
        loss_category = functional.cross_entropy(states @ categories.T * scale, target_categories)
        alpha, side = self.config.alpha, self.config.side_weight
        return loss_col + side * (alpha * loss_tag + (1 - alpha) * loss_category)


def right_aligned(histories: Sequence[Sequence[int]], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The last max_len rows of each history, right-aligned, with the padding mask."""
    length = max(1, min(max_len, max(len(history) for history in histories)))
    inputs = torch.zeros(len(histories), length, dtype=torch.long)
    padding = torch.ones(len(histories), length, dtype=torch.bool)
    for index, history in enumerate(histories):
        recent = list(history)[-length:]
        if recent:
            inputs[index, length - len(recent) :] = torch.tensor(recent)
            padding[index, length - len(recent) :] = False
    return inputs, padding
