"""The judge learns its yes/no verdict on discrimination pairs that never overlap the measured ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_training import artefact, judge_data, judge_eval, sft
from agent_training.agents import JUDGE
from agent_training.cli import main
from agent_training.data import DataConfig, NoUsableExamples
from agent_training.job import Job, TrainSettings
from agent_training.model import BaseModel
from agent_training.scoring import verdict
from recgpt_domain.catalogue import iter_histories, read_items
from tests.agent_training import catalogue

# Enough items and brands that the measured sets (up to 200 pairs a set) leave some for training.
COPIES, USERS = 80, 400
DATA = DataConfig(evaluation_counts=(20,), validation_share=0.1, max_train_examples=40)


@pytest.fixture(scope="module")
def catalogue_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return catalogue.write(tmp_path_factory.mktemp("judge") / "catalogue", USERS, COPIES)


def test_training_pairs_never_touch_the_measured_ones(catalogue_folder: Path) -> None:
    data = judge_data.build_from_catalogue(catalogue_folder, DataConfig(evaluation_counts=(20,)), 1000)
    items = read_items(catalogue_folder)
    measured = [
        p
        for pairs in judge_data.measured_sets(items, iter_histories(catalogue_folder), 200).values()
        for p in pairs
    ]
    measured_keys = {p.user_id for p in measured if p.user_id} | {p.item.item_id for p in measured if p.item}
    measured_sentences = {t for p in measured if p.kind == "explanation" for t in (p.true_text, p.false_text)}
    examples = [*data.train, *data.validation]
    assert data.train and data.validation
    assert not {e.user_id for e in examples} & measured_keys
    for example in examples:
        question = example.prompt[-1]["content"]
        assert not any(f"Explanation: {sentence}\n" in question for sentence in measured_sentences)
    # Each pair gives its true side a Yes and its false side a No.
    verdicts = [verdict(e.completion) for e in examples]
    assert verdicts.count(True) == verdicts.count(False) > 0
    assert {e.prompt[-1]["content"].split("\n")[0] for e in examples} >= {"What the shopper did:"}


def test_a_catalogue_without_pairs_to_spare_says_so(tmp_path: Path) -> None:
    # 24 items, all of them measured, one brand, four users (all measured): no pair is left to train on.
    folder = catalogue.write(tmp_path / "catalogue", users=4)
    with pytest.raises(NoUsableExamples, match="no usable judge_verdict example"):
        judge_data.build_from_catalogue(folder, DataConfig(evaluation_counts=(2,)))


def test_judge_sft_then_eval_judge_measures_base_and_adapter(
    catalogue_folder: Path, tiny_model_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = Job(
        agent=JUDGE,
        catalogue=catalogue_folder,
        base=BaseModel.at(tiny_model_folder),
        adapters_root=tmp_path / "adapters",
        data_config=DATA,
        settings=TrainSettings(steps=2, batch_size=2, max_length=512, val_generate=2),
    )
    folder = sft.run_sft(job)
    assert folder is not None and artefact.load_manifest(folder).agent == JUDGE
    assert {"parsed", "accuracy"} <= set(artefact.load_manifest(folder).validation)
    out = tmp_path / "judge.json"
    code = main(
        [
            "eval-judge", "--agent", "judge", "--catalogue", str(catalogue_folder), "--var", str(tmp_path),
            "--model-dir", str(tiny_model_folder), "--adapters-dir", str(tmp_path / "adapters"),
            "--per-set", "3", "--adapter", "latest", "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "judge discrimination" in printed and "base" in printed
    figures = json.loads(out.read_text())
    assert set(figures["models"]) == {"base", artefact.load_manifest(folder).version}
    for model in figures["models"].values():
        assert 0.0 <= model["mean"] <= 1.0
        assert model["explanation_item"]["scored"] == 3


def test_eval_judge_refuses_another_agent(
    catalogue_folder: Path, tiny_model_folder: Path, tmp_path: Path
) -> None:
    code = main(
        [
            "eval-judge", "--agent", "tags", "--catalogue", str(catalogue_folder), "--var", str(tmp_path),
            "--model-dir", str(tiny_model_folder),
        ]
    )  # fmt: skip
    assert code == 2


def test_log_odds_read_every_spelling_of_the_verdict(tiny_model_folder: Path) -> None:
    from agent_training.model import load_tokenizer

    yes, no = judge_eval.verdict_token_ids(load_tokenizer(BaseModel.at(tiny_model_folder)))
    assert len(yes) >= 2 and len(no) >= 2
    assert not set(yes) & set(no)
