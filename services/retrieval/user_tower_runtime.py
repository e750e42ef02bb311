"""What computes a served user vector: the ensemble's user towers in numpy, or in torch as trained.

torch runs each member's tower op by op, with a dispatch cost per op that dwarfs the arithmetic of one
user's few dozen items: about 1.4 ms of CPU per vector for three members on the project's 2-core machines,
half of a `UserRoutes` call. numpy does the same arithmetic with the members stacked, so each step is one
batched operation for all of them: about 0.25 ms (`python -m retrieval.bench_user_vectors`). Tried and
left: OpenVINO (the traced tower compiled: 1.4 to 4 times torch's speed, always behind numpy once other work
runs between calls) and a frozen TorchScript trace (2.6 times, a deprecated API).

The numpy tower reads the weights of the torch modules, and is checked against torch on every artefact at
load: one that disagrees (a tower changed in training code but not here) is refused with the reason, and
RECGPT_TOWERS_RUNTIME=torch serves it meanwhile.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast

import numpy as np
import numpy.typing as npt
import torch
from scipy.special import erf
from torch import nn

from recgpt_domain.towers.artefact import ArtefactError
from recgpt_domain.towers.learned_model import LearnedModel, Vectors
from retrieval.settings import TowersRuntime

Array = npt.NDArray[np.float32]
# What the check at load allows: float rounding is about 1e-6; a wrong operation is far above this.
TOLERANCE = 1e-4


class UserEncoder(Protocol):
    def __call__(self, histories: Sequence[Sequence[int]]) -> Vectors:
        """One row per history (item rows, oldest first, non-empty), as `LearnedModel.user_vectors`."""
        ...


@dataclass(frozen=True)
class _Layer:
    """One encoder layer of every member, weights transposed for `x @ w`: (members, in, out)."""

    norm1: tuple[Array, Array, float]
    qkv: tuple[Array, Array]
    out: tuple[Array, Array]
    norm2: tuple[Array, Array, float]
    up: tuple[Array, Array]
    down: tuple[Array, Array]


def _stacked(tensors: Sequence[torch.Tensor]) -> Array:
    return np.stack([tensor.detach().numpy() for tensor in tensors]).astype(np.float32)


def _affine(weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor]) -> tuple[Array, Array]:
    """Every member's `x @ weight.T + bias`, as (members, in, out) and (members, 1, out)."""
    return _stacked(weights).transpose(0, 2, 1).copy(), _stacked(biases)[:, None]


def _linear(linears: Sequence[nn.Linear]) -> tuple[Array, Array]:
    return _affine([linear.weight for linear in linears], [linear.bias for linear in linears])


def _norm(norms: Sequence[nn.LayerNorm]) -> tuple[Array, Array, float]:
    return (
        _stacked([norm.weight for norm in norms])[:, None],
        _stacked([norm.bias for norm in norms])[:, None],
        norms[0].eps,
    )


def _layer_norm(x: Array, norm: tuple[Array, Array, float]) -> Array:
    weight, bias, eps = norm
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    normed: Array = centred / np.sqrt(variance + eps) * weight + bias
    return normed


class NumpyUserTower:
    """`EnsembleUserTower.forward` in numpy: pre-norm self-attention layers, causal, last position out."""

    def __init__(self, model: LearnedModel) -> None:
        config = model.config
        members = len(model.users)
        self.dim, self.heads, self.max_len = config.dim, config.heads, config.max_len
        self.normalised = config.cosine
        self.scale = np.float32(math.sqrt(config.dim))
        items = model.item_vectors.shape[0]
        # (members, items, dim): each member's slice of the concatenated item vectors.
        self.items = model.item_vectors.reshape(items, members, config.dim).transpose(1, 0, 2).copy()
        self.positions = _stacked([user.positions.weight for user in model.users])
        by_layer: list[list[nn.TransformerEncoderLayer]] = [
            [cast(nn.TransformerEncoderLayer, user.encoder.layers[index]) for user in model.users]
            for index in range(config.layers)
        ]
        self.layers = [
            _Layer(
                norm1=_norm([layer.norm1 for layer in layers]),
                qkv=_affine(
                    [layer.self_attn.in_proj_weight for layer in layers],
                    [layer.self_attn.in_proj_bias for layer in layers],
                ),
                out=_linear([layer.self_attn.out_proj for layer in layers]),
                norm2=_norm([layer.norm2 for layer in layers]),
                up=_linear([layer.linear1 for layer in layers]),
                down=_linear([layer.linear2 for layer in layers]),
            )
            for layers in by_layer
        ]
        self.norm = _norm([user.norm for user in model.users])

    def __call__(self, histories: Sequence[Sequence[int]]) -> Vectors:
        # As `right_aligned`: one window for the batch, so a shorter history's positions start later.
        length = min(self.max_len, max(len(history) for history in histories))
        return np.concatenate([self._one(list(history)[-length:], length) for history in histories])

    def _one(self, window: list[int], length: int) -> Vectors:
        if not window:
            raise ValueError("a user vector needs at least one item")
        size, offset = len(window), length - len(window)
        members, heads, head_dim = self.items.shape[0], self.heads, self.dim // self.heads
        x = self.items[:, window] * self.scale + self.positions[:, offset:length]
        blocked = np.triu(np.ones((size, size), dtype=bool), 1)
        for layer in self.layers:
            qkv = _layer_norm(x, layer.norm1) @ layer.qkv[0] + layer.qkv[1]
            # (members, heads, size, head_dim) for each of q, k, v.
            q, k, v = qkv.reshape(members, size, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(math.sqrt(head_dim))
            scores[..., blocked] = -np.inf
            weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
            weights /= weights.sum(axis=-1, keepdims=True)
            attended = (weights @ v).transpose(0, 2, 1, 3).reshape(members, size, self.dim)
            x = x + attended @ layer.out[0] + layer.out[1]
            hidden = _layer_norm(x, layer.norm2) @ layer.up[0] + layer.up[1]
            hidden = 0.5 * hidden * (1.0 + erf(hidden / np.float32(math.sqrt(2.0))))  # exact GELU
            x = x + hidden @ layer.down[0] + layer.down[1]
        last = _layer_norm(x[:, -1:], self.norm)[:, 0]
        if self.normalised:  # each member's vector at unit length, as the torch tower's
            last = last / np.maximum(np.linalg.norm(last, axis=-1, keepdims=True), np.float32(1e-12))
        return np.ascontiguousarray(last.reshape(1, members * self.dim), dtype=np.float32)


def check_against_torch(encoder: UserEncoder, model: LearnedModel) -> None:
    """Raises ArtefactError unless `encoder` gives torch's vectors on histories of every shape served."""
    items = model.item_vectors.shape[0]
    rng = np.random.default_rng(items)
    histories = [rng.integers(0, items, size).tolist() for size in (1, 2, 5, model.config.max_len + 3)]
    probes = [*([history] for history in histories), histories]  # each alone, then all in one batch
    for probe in probes:
        difference = float(np.abs(encoder(probe) - model.user_vectors(probe)).max())
        if not difference <= TOLERANCE:
            raise ArtefactError(
                f"artefact {model.version}: the numpy user tower differs from torch's by {difference:.2g}; "
                "RECGPT_TOWERS_RUNTIME=torch serves it"
            )


def user_encoder(model: LearnedModel, runtime: TowersRuntime) -> UserEncoder:
    """The encoder `runtime` names, checked against torch; raises ArtefactError when it disagrees."""
    if runtime == "torch":
        return model.user_vectors
    encoder = NumpyUserTower(model)
    check_against_torch(encoder, model)
    return encoder
