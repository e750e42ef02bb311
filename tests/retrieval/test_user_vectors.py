"""Served user vectors: the numpy user towers against torch's on a trained model (and refused at load when
they disagree), and the cache of each user's last vector (reused while the behaviour is the same,
recomputed when it changes, bounded)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np
import pytest

from recgpt_domain.towers import artefact
from recgpt_domain.towers.artefact import ArtefactError
from recgpt_domain.towers.learned_model import LearnedModel, Vectors
from recgpt_serving import metrics
from retrieval.learned_route import ServedModel
from retrieval.user_cache import RESULTS, USER_VECTOR, UserCache, fingerprint
from retrieval.user_tower_runtime import NumpyUserTower, check_against_torch, user_encoder
from retrieval.vector_search import VectorSearcher
from tests.towers.fixtures import HashEmbedder, small_amazon
from towers import train_cli

MAX_LEN = 10


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> LearnedModel:
    """Two members trained a few steps on real Amazon users: attention weights that are not the initial
    ones, sequences padded and not."""
    dataset = small_amazon(tmp_path_factory.mktemp("amazon") / "small")
    models = tmp_path_factory.mktemp("models")
    smoke = ["--seeds", "0,1", "--no-fusion", "--max-epochs", "2", "--max-steps-per-epoch", "5"]
    smoke += ["--dim", "16", "--max-len", str(MAX_LEN), "--threads", "1", "--tag-positions", "8"]
    args = train_cli.build_parser().parse_args([str(dataset), "--models-dir", str(models), *smoke])
    folder = train_cli.run(args, HashEmbedder())
    assert folder is not None
    return LearnedModel.from_artefact(artefact.load(folder))


def histories(model: LearnedModel, count: int) -> list[list[int]]:
    """Item rows of every length from one item to past the tower's window."""
    rng = np.random.default_rng(0)
    items = model.item_vectors.shape[0]
    return [rng.integers(0, items, 1 + n % (MAX_LEN + 5)).tolist() for n in range(count)]


def test_numpy_vectors_equal_torchs_for_one_user_and_for_a_batch(trained: LearnedModel) -> None:
    numpy_tower = NumpyUserTower(trained)
    users = histories(trained, 60)
    torch_vectors = np.concatenate([trained.user_vectors([history]) for history in users])
    numpy_vectors = np.concatenate([numpy_tower([history]) for history in users])
    assert numpy_vectors.shape == (60, trained.dimension) and numpy_vectors.dtype == np.float32
    np.testing.assert_allclose(numpy_vectors, torch_vectors, rtol=1e-4, atol=1e-5)
    # In a batch, shorter histories are padded on the left and their positions start later: as torch.
    np.testing.assert_allclose(numpy_tower(users[:7]), trained.user_vectors(users[:7]), rtol=1e-4, atol=1e-5)
    # And what is served from them: the same top 50 for every one of these users.
    top = {
        name: np.argsort(-(vectors @ trained.item_vectors.T), axis=1, kind="stable")[:, :50]
        for name, vectors in (("torch", torch_vectors), ("numpy", numpy_vectors))
    }
    agree = [set(a) == set(b) for a, b in zip(top["torch"], top["numpy"], strict=True)]
    assert sum(agree) / len(agree) >= 0.99


def test_a_tower_numpy_does_not_reproduce_is_refused_at_load(trained: LearnedModel) -> None:
    check_against_torch(NumpyUserTower(trained), trained)

    class Drifted(NumpyUserTower):
        """A tower changed in training code but not here: its vectors are off."""

        def __call__(self, histories: Sequence[Sequence[int]]) -> Vectors:
            return super().__call__(histories) * 1.01

    with pytest.raises(ArtefactError, match="RECGPT_TOWERS_RUNTIME=torch"):
        check_against_torch(Drifted(trained), trained)
    with pytest.raises(ValueError, match="at least one item"):
        NumpyUserTower(trained)([[1, 2], []])


class CountingEncoder:
    """torch's vectors, counting the histories it was asked for."""

    def __init__(self, model: LearnedModel) -> None:
        self.model = model
        self.asked: list[list[int]] = []

    def __call__(self, histories: Sequence[Sequence[int]]) -> Vectors:
        self.asked.extend(list(history) for history in histories)
        return self.model.user_vectors(histories)


def served(model: LearnedModel, cache_size: int) -> tuple[ServedModel, CountingEncoder]:
    encoder = CountingEncoder(model)
    index = faiss.IndexFlatIP(model.dimension)
    index.add(model.item_vectors)
    searcher = VectorSearcher(index, model.item_vectors, "flat", use_gpu=False)
    cache = UserCache[Vectors](USER_VECTOR, cache_size) if cache_size else None
    return ServedModel(model, searcher, Path("unused"), encoder, cache), encoder


def counts() -> dict[str, float]:
    return {result: metrics.CACHE_REQUESTS.labels(USER_VECTOR, result)._value.get() for result in RESULTS}


def test_a_users_vector_is_reused_until_the_items_the_tower_reads_change(trained: LearnedModel) -> None:
    model, encoder = served(trained, cache_size=10)
    uncached, _ = served(trained, cache_size=0)
    recent_first = list(range(20, 20 + MAX_LEN + 3))
    before = counts()

    first = model.user_vector(recent_first, "ada")
    again = model.user_vector(recent_first, "ada")
    # Older items than the tower's window are not read, so they do not invalidate the vector.
    longer = model.user_vector([*recent_first, 99], "ada")

    assert len(encoder.asked) == 1 and encoder.asked[0] == list(reversed(recent_first[:MAX_LEN]))
    assert np.array_equal(first, uncached.user_vector(recent_first))
    assert again is first and longer is first
    after = counts()
    assert after["miss"] - before["miss"] == 1 and after["hit"] - before["hit"] == 2

    newer = model.user_vector([7, *recent_first], "ada")

    assert len(encoder.asked) == 2 and counts()["stale"] - before["stale"] == 1
    assert np.array_equal(newer, uncached.user_vector([7, *recent_first]))
    assert not np.array_equal(newer, first)
    # Given seeds (no user) are never cached; nor is anything without a cache.
    model.user_vector(recent_first)
    model.user_vector(recent_first)
    assert len(encoder.asked) == 4


def test_the_cache_keeps_the_most_recently_used_users_and_no_more() -> None:
    cache = UserCache[Vectors](USER_VECTOR, capacity=2)
    vector = np.zeros((1, 4), dtype=np.float32)
    for user in ("a", "b"):
        cache.put(user, fingerprint([1]), vector.copy())
    assert cache.get("a", fingerprint([1])) is not None  # "a" is now the most recent
    cache.put("c", fingerprint([1]), vector.copy())

    assert len(cache) == 2
    assert cache.get("b", fingerprint([1])) is None
    assert cache.get("a", fingerprint([1])) is not None and cache.get("c", fingerprint([1])) is not None
    # One entry per user: new behaviour replaces the user's entry instead of adding one.
    cache.put("a", fingerprint([1, 2]), vector.copy())
    assert len(cache) == 2 and cache.get("a", fingerprint([1])) is None
    with pytest.raises(ValueError, match="positive"):
        UserCache[Vectors](USER_VECTOR, 0)


def test_fingerprint_follows_items_and_their_order() -> None:
    assert fingerprint([1, 2, 3]) == fingerprint((1, 2, 3))
    assert (
        len({fingerprint([1, 2, 3]), fingerprint([3, 2, 1]), fingerprint([1, 2]), fingerprint([12, 3])}) == 4
    )


def test_each_runtime_names_its_encoder(trained: LearnedModel) -> None:
    users = histories(trained, 5)
    assert np.array_equal(user_encoder(trained, "torch")(users), trained.user_vectors(users))
    assert isinstance(user_encoder(trained, "numpy"), NumpyUserTower)


def test_a_cosine_model_serves_unit_vectors_per_member_and_numpy_still_equals_torch(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Trained with cosine logits (and the other regularisers on): every member's item and user vectors
    have unit length, so the concatenated inner product weighs members equally, in numpy as in torch."""
    dataset = small_amazon(tmp_path_factory.mktemp("amazon") / "small")
    models = tmp_path_factory.mktemp("models")
    smoke = ["--seeds", "0,1", "--no-fusion", "--max-epochs", "2", "--max-steps-per-epoch", "3"]
    smoke += ["--dim", "16", "--max-len", str(MAX_LEN), "--threads", "1", "--temperature", "0.1"]
    smoke += ["--id-dropout", "0.2", "--weight-decay", "0.01", "--schedule", "cosine"]
    args = train_cli.build_parser().parse_args([str(dataset), "--models-dir", str(models), *smoke])
    folder = train_cli.run(args, HashEmbedder())
    assert folder is not None
    loaded = artefact.load(folder)
    assert loaded.manifest.config.temperature == 0.1 and loaded.manifest.config.id_dropout == 0.2
    assert loaded.manifest.training["schedule"] == "cosine"
    model = LearnedModel.from_artefact(loaded)
    users = histories(model, 12)
    members = [slice(0, 16), slice(16, 32)]
    torch_vectors = model.user_vectors(users)
    for part in members:
        np.testing.assert_allclose(np.linalg.norm(model.item_vectors[:, part], axis=1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(torch_vectors[:, part], axis=1), 1.0, rtol=1e-5)
    numpy_vectors = np.concatenate([NumpyUserTower(model)([history]) for history in users])
    np.testing.assert_allclose(
        numpy_vectors, np.concatenate([model.user_vectors([h]) for h in users]), atol=1e-5
    )
    check_against_torch(NumpyUserTower(model), model)


def test_relative_probabilities_put_the_best_item_at_one_and_average_the_members() -> None:
    class TwoMembers(LearnedModel):
        def __init__(self) -> None:
            self.users = [object(), object()]  # type: ignore[list-item]

    scores = np.array([4.0, 6.0, 2.0], dtype=np.float32)
    relative = TwoMembers().relative_probabilities(scores)
    np.testing.assert_allclose(relative, [np.exp(-1.0), 1.0, np.exp(-2.0)], rtol=1e-6)
    assert TwoMembers().relative_probabilities(np.zeros(0)).shape == (0,)
