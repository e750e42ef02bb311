"""The sampled softmax: what it equals when it draws every item once, what it ignores, that it learns, and
when training chooses it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.nn import functional

from recgpt_domain.towers import artefact
from recgpt_domain.towers.model import Negatives, TowerConfig, Towers, right_aligned, sampled_cross_entropy
from tests.towers.fixtures import HashEmbedder, small_amazon
from towers import train_cli
from towers.batches import Proposal
from towers.train import FULL_SOFTMAX_MAX_ITEMS, TrainSettings

ITEMS, TEXT, CATEGORIES = 40, 12, 4


def towers(seed: int = 0) -> Towers:
    torch.manual_seed(seed)
    config = TowerConfig(dim=16, layers=1, heads=1, max_len=8, dropout=0.0, text_dim=TEXT)
    return Towers(
        config,
        torch.randn(ITEMS, TEXT),
        torch.randn(ITEMS, TEXT),
        torch.randn(ITEMS, TEXT),
        torch.randn(CATEGORIES, TEXT),
    )


def every_item_once() -> Negatives:
    """Each item drawn exactly once from a uniform proposal of ITEMS draws: every expected count is one."""
    return Negatives(torch.arange(ITEMS), torch.zeros(ITEMS))


def batch(sequences: list[list[int]]) -> tuple[torch.Tensor, ...]:
    inputs, padding = right_aligned([s[:-1] for s in sequences], max(len(s) for s in sequences) - 1)
    following, _ = right_aligned([s[1:] for s in sequences], inputs.shape[1])
    targets = following[~padding]
    return inputs, padding, targets, targets % CATEGORIES, targets % 3 - 1  # some positions untagged


def test_drawing_every_item_once_is_the_full_softmax() -> None:
    queries, vectors = torch.randn(5, 8), torch.randn(ITEMS, 8)
    positives = torch.tensor([0, 7, 7, 19, 39])
    full = functional.cross_entropy(queries @ vectors.T, positives)
    sampled = sampled_cross_entropy(queries, vectors[positives], vectors, positives, every_item_once(), 1.0)
    assert sampled.item() == pytest.approx(full.item(), rel=1e-5)


def test_a_draw_of_the_positive_itself_is_no_negative() -> None:
    queries, vectors = torch.randn(2, 8), torch.randn(ITEMS, 8)
    positives = torch.tensor([3, 3])
    drawn = Negatives(torch.tensor([3, 3, 3]), torch.zeros(ITEMS))
    loss = sampled_cross_entropy(queries, vectors[positives], vectors[drawn.rows], positives, drawn, 1.0)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_the_towers_sampled_loss_over_every_item_equals_their_full_loss() -> None:
    # Only the drawn, input and target items are embedded; with every item drawn once the loss is the same.
    model = towers().eval()
    inputs, padding, targets, categories, tags = batch([[1, 2, 3, 4, 5], [6, 7, 8], [9, 10, 11, 12]])
    full = model(inputs, padding, targets, categories, tags)
    sampled = model(inputs, padding, targets, categories, tags, every_item_once())
    assert sampled.item() == pytest.approx(full.item(), rel=1e-5)


def test_a_sampled_softmax_learns_what_follows() -> None:
    # Item i is always followed by i + 1: 24 negatives of 40 items are enough to learn it.
    model = towers(1)
    sequences = [[(start + step) % ITEMS for step in range(6)] for start in range(ITEMS)]
    proposal = Proposal(torch.ones(ITEMS, dtype=torch.long), draws=24)
    generator = torch.Generator().manual_seed(0)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        loss = model(*batch(sequences), proposal.draw(generator))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        items = model.item_vectors()
        inputs, padding = right_aligned([s[:-1] for s in sequences], 5)
        following = model.user_states(items, inputs, padding)[:, -1] @ items.T
    hits = (following.argmax(dim=1) == torch.tensor([s[-1] for s in sequences])).float().mean()
    assert hits.item() >= 0.8


def test_the_proposal_favours_popular_items_and_knows_each_expected_count() -> None:
    proposal = Proposal.of([[0, 0, 0, 1], [0, 2]], items=4, draws=100)
    assert proposal.probabilities.argmax().item() == 0 and proposal.probabilities[3] > 0  # the tail too
    assert float(proposal.probabilities.sum()) == pytest.approx(1.0)
    expected = torch.exp(proposal.log_expected)
    assert float(expected.sum()) == pytest.approx(100.0, rel=1e-4)
    drawn = proposal.draw(torch.Generator().manual_seed(0))
    assert drawn.rows.shape == (100,) and int(drawn.rows.max()) < 4


def test_auto_samples_only_beyond_the_full_softmax_limit() -> None:
    assert not TrainSettings().sampled(FULL_SOFTMAX_MAX_ITEMS)
    assert TrainSettings().sampled(FULL_SOFTMAX_MAX_ITEMS + 1)
    assert TrainSettings(softmax="sampled").sampled(10)
    assert not TrainSettings(softmax="full").sampled(10 * FULL_SOFTMAX_MAX_ITEMS)


def test_training_with_a_sampled_softmax_writes_a_servable_artefact(tmp_path: Path) -> None:
    dataset = small_amazon(tmp_path / "small", users=range(1, 41))
    argv = [str(dataset), "--models-dir", str(tmp_path / "models"), "--max-epochs", "1", "--dim", "16"]
    argv += ["--max-len", "10", "--threads", "1", "--no-fusion", "--softmax", "sampled", "--negatives", "32"]
    folder = train_cli.run(train_cli.build_parser().parse_args(argv), HashEmbedder())
    assert folder is not None
    manifest = artefact.read_manifest(folder)
    assert manifest.training["softmax"] == "sampled" and manifest.training["negatives"] == 32
    assert artefact.load(folder).item_vectors.shape[1] == 16
