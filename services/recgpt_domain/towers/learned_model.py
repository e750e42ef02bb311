"""A loaded artefact as serving uses it: user vectors from item rows, tag vectors from tag text vectors.

Each ensemble member scores by inner product in its own space; concatenating the members' vectors makes
one inner product (one FAISS search) equal to the sum of their scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from recgpt_domain.towers.artefact import ArtefactError, FusionWeights, LoadedArtefact
from recgpt_domain.towers.model import TagTower, TowerConfig, UserTower, right_aligned

Vectors = npt.NDArray[np.float32]


class LearnedModel:
    """The user and tag towers of every member, in eval mode, and the items' concatenated vectors."""

    def __init__(
        self,
        config: TowerConfig,
        item_vectors: Vectors,
        weights: dict[str, Any],
        version: str,
        fusion: FusionWeights | None = None,
    ) -> None:
        self.config = config
        self.version = version
        self.fusion = fusion
        self.item_vectors: Vectors = np.ascontiguousarray(item_vectors, dtype=np.float32)
        members = weights.get("members")
        if not isinstance(members, list) or not members or item_vectors.shape[1] != config.dim * len(members):
            raise ArtefactError(f"artefact {version}: weights hold no members matching the item vectors")
        self.users: list[UserTower] = []
        self.tags: list[TagTower] = []
        try:
            for member in members:
                user, tag = UserTower(config), TagTower(config)
                user.load_state_dict(member["user"])
                tag.load_state_dict(member["tag"])
                self.users.append(user.eval())
                self.tags.append(tag.eval())
        except (KeyError, RuntimeError) as error:
            raise ArtefactError(f"artefact {version}: weights do not fit the config: {error}") from error
        dim = config.dim
        self._member_items = [
            torch.from_numpy(self.item_vectors[:, index * dim : (index + 1) * dim].copy())
            for index in range(len(self.users))
        ]

    @classmethod
    def from_artefact(cls, artefact: LoadedArtefact) -> LearnedModel:
        manifest = artefact.manifest
        if len(artefact.weights.get("members", [])) != len(manifest.members):
            raise ArtefactError(f"{artefact.folder}: weights and manifest disagree on the members")
        return cls(
            manifest.config, artefact.item_vectors, artefact.weights, manifest.version, manifest.fusion
        )

    @property
    def dimension(self) -> int:
        return int(self.item_vectors.shape[1])

    def relative_probabilities(self, scores: npt.NDArray[np.floating[Any]]) -> Vectors:
        """Scores of one user's items (best first or not) as each item's probability over the best one's.

        Each member was trained with a softmax over its inner products, so exp(score) is proportional to the
        item's probability; the concatenated vectors sum the members' scores, and dividing by the members
        averages their log-probabilities, so one member or three give probabilities on one scale. Fusion
        then weighs the learned route by what it believes, not by inner products that differ by a few
        percent between its first and its fiftieth item.
        """
        values = np.asarray(scores, dtype=np.float64)
        relative: Vectors = (
            np.exp((values - values.max()) / len(self.users)).astype(np.float32)
            if values.size
            else values.astype(np.float32)
        )
        return relative

    @torch.inference_mode()
    def user_vectors(self, histories: Sequence[Sequence[int]]) -> Vectors:
        """One row per history (item rows, oldest first, non-empty); the most recent max_len count."""
        inputs, padding = right_aligned(histories, self.config.max_len)
        parts = [
            user(items[inputs], padding)[:, -1]
            for user, items in zip(self.users, self._member_items, strict=True)
        ]
        return np.ascontiguousarray(torch.cat(parts, dim=1).numpy(), dtype=np.float32)

    @torch.inference_mode()
    def tag_vectors(self, text_vectors: Vectors) -> Vectors:
        """Tags' MiniLM vectors mapped into the item space by every member's tag tower."""
        text = torch.from_numpy(np.ascontiguousarray(text_vectors, dtype=np.float32))
        return np.ascontiguousarray(torch.cat([tag(text) for tag in self.tags], dim=1).numpy())
