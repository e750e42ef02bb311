"""Training end to end on a small real dataset: the artefact, its checks, and the routes-only evaluation."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from recgpt_domain.catalogue import Interaction, UserHistory
from recgpt_domain.towers import artefact
from recgpt_domain.towers.artefact import ArtefactError
from recgpt_domain.towers.learned_model import LearnedModel
from tests.towers.fixtures import HashEmbedder, small_amazon
from towers import data, eval_cli, train_cli

SMOKE = [
    "--max-epochs",
    "2",
    "--max-steps-per-epoch",
    "3",
    "--dim",
    "16",
    "--max-len",
    "10",
    "--threads",
    "1",
    "--tag-positions",
    "8",
]


def train(dataset: Path, models: Path, *extra: str) -> Path:
    args = train_cli.build_parser().parse_args([str(dataset), "--models-dir", str(models), *SMOKE, *extra])
    folder = train_cli.run(args, HashEmbedder())
    assert folder is not None
    return folder


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_amazon(tmp_path_factory.mktemp("amazon") / "small")


@pytest.fixture(scope="module")
def trained(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(dataset, tmp_path_factory.mktemp("models"), "--seeds", "0,1", "--validation-share", "0.3")


def test_artefact_holds_weights_vectors_config_fingerprint_and_metrics(trained: Path, dataset: Path) -> None:
    manifest = artefact.read_manifest(trained)
    items, _, fingerprint = data.read_dataset(dataset)
    assert artefact.latest(trained.parent) == trained
    assert manifest.data_fingerprint == fingerprint
    assert manifest.items == len(items) and manifest.dimension == 32  # two members of 16
    assert [member.seed for member in manifest.members] == [0, 1]
    assert set(manifest.validation) == {"recall@10", "ndcg@10", "recall@50", "ndcg@50"}
    assert manifest.fusion is not None and 0 <= manifest.fusion.beta <= 1
    fusion = manifest.fusion
    # The baseline's three weights come from the grid over the simplex, each choice scored and kept.
    total = fusion.collaborative_weight + fusion.cooccurrence_weight + fusion.content_weight
    assert total == pytest.approx(1.0)
    assert len([name for name in fusion.validation if name.startswith("baseline=")]) == 66
    # Cross-fitted over five folds of the validation users: each choice's spread is kept.
    assert fusion.folds == 5 and set(fusion.spread) == {"baseline", "recgpt_v1"}
    for spread in fusion.spread.values():
        assert len(spread.per_fold) == len(spread.held_out) == len(spread.held_out_choices) == 5
        assert spread.choice in fusion.validation
    printed = train_cli.summary(trained, manifest)
    assert "recgpt-v1 = " in printed and "baseline over 5 folds" in printed
    loaded = artefact.load(trained, [item.item_id for item in items])
    model = LearnedModel.from_artefact(loaded)
    vectors = model.user_vectors([[0, 1, 2], [3]])
    assert vectors.shape == (2, 32) and np.isfinite(vectors).all()


def test_same_seed_same_model(dataset: Path, tmp_path: Path) -> None:
    first = artefact.load(train(dataset, tmp_path / "a", "--no-fusion"))
    second = artefact.load(train(dataset, tmp_path / "b", "--no-fusion"))
    assert np.array_equal(first.item_vectors, second.item_vectors)


def test_half_written_or_altered_artefact_fails_with_a_reason(trained: Path, tmp_path: Path) -> None:
    copy = tmp_path / trained.name
    shutil.copytree(trained, copy)
    (copy / artefact.ITEM_VECTORS_FILE).write_bytes(b"truncated")
    with pytest.raises(ArtefactError, match="checksum"):
        artefact.load(copy)
    shutil.copyfile(trained / artefact.ITEM_VECTORS_FILE, copy / artefact.ITEM_VECTORS_FILE)
    (copy / artefact.WEIGHTS_FILE).unlink()
    with pytest.raises(ArtefactError, match="missing"):
        artefact.load(copy)
    (copy / artefact.MANIFEST_FILE).unlink()
    with pytest.raises(ArtefactError, match="half-written"):
        artefact.load(copy)


def test_artefact_of_another_catalogue_is_refused(trained: Path) -> None:
    with pytest.raises(ArtefactError, match="another catalogue"):
        artefact.load(trained, ["some", "other", "items"])


def test_no_artefact_means_none_and_a_bad_pointer_an_error(tmp_path: Path) -> None:
    assert artefact.latest(tmp_path) is None
    (tmp_path / artefact.LATEST_FILE).write_text("../../etc\n")
    with pytest.raises(ArtefactError):
        artefact.latest(tmp_path)


def test_users_of_one_interaction_are_a_clear_error(tmp_path: Path) -> None:
    dataset = tmp_path / "movielens"
    dataset.mkdir()
    (dataset / "movies.csv").write_text("movieId,title,genres\n1,Heat (1995),Action\n2,Up (2009),Animation\n")
    (dataset / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,100\n2,2,3.0,100\n3,1,5.0,100\n3,2,5.0,200\n"
    )
    with pytest.raises(data.TrainingDataError, match="three or more"):
        train(dataset, tmp_path / "models")
    assert not (tmp_path / "models" / artefact.LATEST_FILE).exists()


def test_eval_retrieval_reports_every_route_on_every_user(
    trained: Path, dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval.json"
    args = eval_cli.build_parser().parse_args(
        [str(dataset), "--models-dir", str(trained.parent), "--out", str(out)]
    )
    report = eval_cli.run(args, HashEmbedder())
    users = report["users"]
    assert users["evaluated"] + users["too_short"] + users["unknown_target"] == users["users"] > 50
    for route in ("learned", "collaborative", "content", "popularity", "tag_minilm", "tag_tower"):
        assert set(report["routes"][route]) == {"recall@10", "ndcg@10", "recall@50", "ndcg@50"}
    assert "fused_baseline_learned" in report["routes"]
    assert report["artefact"] == artefact.read_manifest(trained).version
    json.dumps(report)


def test_eval_retrieval_over_splits_trains_each_and_reports_mean_and_std(
    dataset: Path, tmp_path: Path
) -> None:
    own = [str(dataset), "--models-dir", str(tmp_path / "models"), "--splits", "2", "--first-split", "2"]
    args, train_argv = eval_cli.build_parser().parse_known_args(
        [*own, "--unseen-share", "0.3", "--validation-share", "0.3", *SMOKE]
    )
    assert "--max-epochs" in train_argv  # the training budget goes to the training command

    report = eval_cli.run_splits(args, train_argv, HashEmbedder())

    first, second = report["per_split"]
    assert (first["seed"], second["seed"]) == (2, 3)
    assert first["artefact"] != second["artefact"]
    for split in (first, second):
        folder = tmp_path / f"models-splits/{dataset.name}/split-{split['seed']}"
        seen = {h.user_id for h in data.read_dataset(folder / "seen")[1]}
        unseen = {h.user_id for h in data.read_dataset(folder / "unseen")[1]}
        assert seen and unseen and not seen & unseen
        assert split["users"]["users"] == len(unseen) == split["unseen_users"]
        assert split["served"] == str(folder / "seen")  # co-occurrence counts the seen users only
    learned = report["routes"]["learned"]["recall@50"]
    values = [split["routes"]["learned"]["recall@50"] for split in (first, second)]
    assert learned == {"mean": pytest.approx(np.mean(values)), "std": pytest.approx(np.std(values))}
    assert "fused_recgpt_v1_learned" in report["routes"]
    json.dumps(report)


def test_training_options_without_splits_are_refused(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        eval_cli.main([str(dataset), "--splits", "0", "--max-epochs", "3"])
    assert exit_info.value.code == 2
    assert "--max-epochs" in capsys.readouterr().err


def test_eval_retrieval_without_artefact_leaves_the_learned_route_out(dataset: Path, tmp_path: Path) -> None:
    args = eval_cli.build_parser().parse_args([str(dataset), "--models-dir", str(tmp_path)])
    report = eval_cli.run(args, HashEmbedder())
    assert "learned" not in report["routes"] and report["learned_missing"]
    assert os.path.basename(str(tmp_path)) in report["learned_missing"]


def test_weights_are_chosen_on_a_log_without_the_validation_targets() -> None:
    """Co-occurrence must not have counted the pair a validation user is asked to predict."""
    log = [Interaction(item_id=item) for item in ("a", "b", "c", "d")]
    histories = [UserHistory(user_id="val", interactions=log), UserHistory(user_id="train", interactions=log)]
    training = SimpleNamespace(validation=[data.Example("val", [0, 1], 2)])

    counted = train_cli.without_validation_targets(training, histories)  # type: ignore[arg-type]

    # route_context then holds out every last: "val" keeps a, b (its target c is gone), "train" a, b, c.
    assert [[i.item_id for i in h.interactions] for h in counted] == [["a", "b", "c"], ["a", "b", "c", "d"]]
