"""SFT, self-training and GRPO end to end on a tiny model, and the same SFT on two processes (torchrun)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from agent_training import answers_eval, artefact, cli, grpo, scoring, sft
from agent_training.agents import EXPERT, EXPLANATIONS, INTERESTS, TAGS, AgentName
from agent_training.data import DataConfig, NoUsableExamples
from agent_training.job import CatalogueTagMapper, Job, TrainSettings
from agent_training.model import BaseModel, load_model
from tags import prompts as tag_prompts
from tests.agent_training import catalogue

REPO = Path(__file__).resolve().parents[2]
DATA = DataConfig(evaluation_counts=(5, 10), validation_share=0.2)
SETTINGS = TrainSettings(steps=2, batch_size=2, max_length=512, val_generate=2)


def job(tmp_path: Path, model: Path, agent: AgentName = TAGS) -> Job:
    return Job(
        agent=agent,
        catalogue=catalogue.write(tmp_path / "catalogue"),
        base=BaseModel.at(model),
        adapters_root=tmp_path / "adapters",
        data_config=DATA,
        settings=SETTINGS,
        tag_mapper=catalogue.ExactMapper(),
    )


def test_sft_writes_a_versioned_peft_adapter_that_loads(tmp_path: Path, tiny_model_folder: Path) -> None:
    trained = job(tmp_path, tiny_model_folder)
    folder = sft.run_sft(trained)
    assert folder is not None and folder.parent == tmp_path / "adapters" / TAGS
    assert {"adapter_config.json", "adapter_model.safetensors", artefact.MANIFEST_FILE} <= {
        p.name for p in folder.iterdir()
    }
    manifest = artefact.load_manifest(folder)
    assert manifest.data_fingerprint == trained.data.fingerprint
    assert manifest.base_model == "smollm2-135m-instruct" and manifest.base_model_source
    assert manifest.hyperparameters["seed"] == 0 and manifest.hyperparameters["steps"] == 2
    # Two steps of two examples read four: only those are tokenised and recorded.
    assert len(trained.data.train) > 4 and manifest.hyperparameters["examples"] == 4
    assert {"train_loss", "parsed", "usable", "next_category_hit"} <= set(manifest.validation)
    assert artefact.newest_adapter(tmp_path / "adapters", TAGS) == folder
    load_model(trained.base, folder)
    # GRPO continues from it (constrained reward shaping), recording where it started.
    trained.settings = replace(SETTINGS, steps=1, val_generate=0)
    continued = grpo.run_grpo(trained, shaping="crs", generations=2, temperature=1.0, start=folder)
    assert continued is not None
    assert artefact.load_manifest(continued).parent == manifest.version
    assert artefact.load_manifest(continued).method == "grpo"
    other_base = replace(trained.base, source_stamp={"gguf": "another.gguf", "size": 1})
    with pytest.raises(artefact.AdapterMismatch):
        load_model(other_base, folder)


def test_eval_answers_scores_base_and_adapter_on_the_same_validation_examples(
    tmp_path: Path, tiny_model_folder: Path
) -> None:
    trained = job(tmp_path, tiny_model_folder, EXPLANATIONS)
    trained.settings = replace(SETTINGS, steps=1, val_generate=0)
    folder = sft.run_sft(trained)
    assert folder is not None
    trained.settings = replace(SETTINGS, val_generate=3)
    result = answers_eval.evaluate(trained, {"base": None, "sft": folder})
    assert result["examples"] == min(3, len(trained.data.validation)) > 0
    assert result["validation_users"] >= 1
    assert set(result["models"]) == {"base", "sft"}
    for figures in result["models"].values():
        assert {"parsed", "grounded", "diversity"} <= set(figures) and 0.0 <= figures["grounded"] <= 1.0
    assert "validation users" in answers_eval.table(result)


def test_a_failed_validation_still_writes_the_adapter_and_says_so(
    tmp_path: Path, tiny_model_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> dict[str, float]:
        raise RuntimeError("scorer broke")

    monkeypatch.setattr(scoring, "agent_metrics", broken)
    trained = job(tmp_path, tiny_model_folder)
    trained.settings = replace(SETTINGS, steps=1)
    folder = sft.run_sft(trained)
    assert folder is not None
    validation = artefact.load_manifest(folder).validation
    assert validation["validation_error"] == "RuntimeError: scorer broke" and "train_loss" in validation


def test_the_tag_mapper_reads_no_service_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Training maps tags as the service does, without the service's ports, Redis or catalogue."""
    for name in ("REDIS_URL", "RECGPT_PORT", "RECGPT_METRICS_PORT", "RECGPT_CATALOGUE_DIR"):
        monkeypatch.delenv(name, raising=False)
    mapper = CatalogueTagMapper(catalogue.items())
    matches = mapper.map(["lab beakers", "nitrile gloves"])
    assert [m.category for m in matches] == ["Beakers", "Nitrile Gloves"]
    assert 0 < mapper.min_score < 1


def test_self_training_that_keeps_nothing_says_so(tmp_path: Path, tiny_model_folder: Path) -> None:
    with pytest.raises(NoUsableExamples, match="kept no tag_predictor answer"):
        sft.run_self_training(
            job(tmp_path, tiny_model_folder),
            rounds=1,
            prompts_per_round=2,
            samples=2,
            temperature=1.0,
            start=None,
        )
    assert artefact.newest_adapter(tmp_path / "adapters", TAGS) is None


def test_grpo_sum_trains_tags_from_the_base_model(tmp_path: Path, tiny_model_folder: Path) -> None:
    trained = job(tmp_path, tiny_model_folder)
    trained.settings = replace(SETTINGS, steps=1, val_generate=0)
    folder = grpo.run_grpo(trained, shaping="sum", generations=2, temperature=1.0, start=None)
    assert folder is not None
    manifest = artefact.load_manifest(folder)
    assert manifest.method == "grpo-sum" and manifest.parent is None
    assert manifest.hyperparameters["shaping"] == "sum"


def test_grpo_trains_the_explainer_on_the_judges_proxy_verdict(
    tmp_path: Path, tiny_model_folder: Path
) -> None:
    trained = job(tmp_path, tiny_model_folder, agent=EXPLANATIONS)
    trained.settings = replace(SETTINGS, steps=1, val_generate=2)
    folder = grpo.run_grpo(trained, shaping="crs", generations=2, temperature=1.0, start=None)
    assert folder is not None
    manifest = artefact.load_manifest(folder)
    assert manifest.method == "grpo" and manifest.agent == EXPLANATIONS
    assert {"grounded", "diversity", "judged", "passed_all"} <= set(manifest.validation)


def test_grpo_refuses_an_agent_without_rewards(tmp_path: Path, tiny_model_folder: Path) -> None:
    with pytest.raises(NoUsableExamples, match="GRPO trains"):
        grpo.run_grpo(
            job(tmp_path, tiny_model_folder, INTERESTS),
            shaping="crs",
            generations=2,
            temperature=1.0,
            start=None,
        )


def test_sft_runs_data_parallel_on_two_cpu_processes(tmp_path: Path, tiny_model_folder: Path) -> None:
    # Enough users that some remain after the evaluation's users (up to 1,000) are set aside.
    folder = catalogue.write(tmp_path / "catalogue", users=1300)
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "agent_training.cli", "sft", "--agent", "interests", "--catalogue", str(folder),
        "--model-dir", str(tiny_model_folder), "--adapters-dir", str(tmp_path / "adapters"),
        "--steps", "3", "--batch-size", "2", "--max-length", "512", "--val-generate", "0",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO / "services"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    written = artefact.newest_adapter(tmp_path / "adapters", INTERESTS)
    assert written is not None
    assert "adapter written" in done.stdout
    manifest = json.loads((written / artefact.MANIFEST_FILE).read_text())
    assert manifest["hyperparameters"]["world_size"] == 2
    assert manifest["hyperparameters"]["examples"] == 3 * 2 * 2


def test_device_options_train_in_float32_on_cpus_and_bf16_with_nccl_on_gpus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    from agent_training.job import device_options

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device_options() == {"use_cpu": True, "bf16": False, "fp16": False, "ddp_backend": "gloo"}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert device_options() == {"use_cpu": False, "bf16": True, "fp16": False, "ddp_backend": "nccl"}
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert device_options()["ddp_backend"] is None


def test_choose_mode_scores_its_picks_by_the_listed_names_they_number(
    tmp_path: Path, tiny_model_folder: Path
) -> None:
    from recgpt_domain.catalogue import read_items
    from recgpt_domain.category_tags import category_tags

    chose = job(tmp_path, tiny_model_folder)
    chose.tag_mapper = None
    chose.data_config = replace(DATA, tag_mode="choose")
    names = category_tags(read_items(chose.catalogue))
    category, name = next(iter(names.items()))
    # As the service reads a pick: the name but for its spacing; another case is another text.
    matches = chose.mapper.map([f"  {name} ", name.upper(), "Not A Category Name"])
    assert [(m.category, m.score) for m in matches] == [(category, 1.0), ("", 0.0), ("", 0.0)]
    # The answer is numbers of the example's listed pool: the second pick names the target; a number past
    # the list names nothing.
    example = chose.data.validation[0]
    assert len(example.pool_names) >= 2
    answer = json.dumps({"tags": [2, len(example.pool_names) + 1]})
    scores = scoring.agent_metrics(
        TAGS, [replace(example, next_categories=(example.pool[1],))], [answer],
        items=chose.items, mapper=chose.mapper, rewarder=None, constraints=chose.constraints,
    )  # fmt: skip
    assert scores["next_category_hit"] == 1.0 and scores["alignment"] == 1.0
    missed = scoring.agent_metrics(
        TAGS, [replace(example, next_categories=(example.pool[1],))], [json.dumps({"tags": [1]})],
        items=chose.items, mapper=chose.mapper, rewarder=None, constraints=chose.constraints,
    )  # fmt: skip
    assert missed["next_category_hit"] == 0.0


def expert_job(tmp_path: Path, model: Path) -> Job:
    trained = job(tmp_path, model, agent=EXPERT)
    trained.near = catalogue.NearLeaves()
    return trained


def test_the_experts_reward_reads_each_answer_against_its_own_pool(
    tmp_path: Path, tiny_model_folder: Path
) -> None:
    """TRL hands the reward the dataset's columns: each completion is scored on its own example's pool."""
    trained = expert_job(tmp_path, tiny_model_folder)
    rows = grpo._rows(trained.data.train[:2])
    first, second = (r for r in rows)
    # The expert answers by the numbers of its pool's list.
    hit = next(n for n, c in enumerate(first["pool"], 1) if c in first["next_categories"])
    answers = [
        [{"role": "assistant", "content": json.dumps({"tags": [hit]})}],
        [{"role": "assistant", "content": json.dumps({"tags": [hit, hit]})}],
    ]
    columns = {key: [first[key], first[key]] for key in ("next_categories", "pool", "pool_names")}
    crs = grpo.reward_function(trained, "crs")(answers, **columns, item_id=["", ""], interest=["", ""])
    targets_in_pool = len(set(first["next_categories"]) & set(first["pool"]))
    assert crs == [1.0 / targets_in_pool, 0.0], "a duplicate pick gates the hit"
    summed = grpo.reward_function(trained, "sum")(answers, **columns)
    assert summed == [1.0 / targets_in_pool + 3.0, 1.0 / targets_in_pool + 2.5]
    other = {key: [second[key]] for key in ("next_categories", "pool", "pool_names")}
    past_the_pool = len(second["pool"]) + 1
    outside = [[{"role": "assistant", "content": json.dumps({"tags": [past_the_pool]})}]]
    assert grpo.reward_function(trained, "sum")(outside, **other) == [2.0]


def test_grpo_trains_the_expert_and_eval_answers_reports_its_hit_rate(
    tmp_path: Path, tiny_model_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trained = expert_job(tmp_path, tiny_model_folder)
    trained.settings = replace(SETTINGS, steps=1, val_generate=2)
    folder = grpo.run_grpo(trained, shaping="crs", generations=2, temperature=1.0, start=None)
    assert folder is not None and folder.parent == tmp_path / "adapters" / EXPERT
    manifest = artefact.load_manifest(folder)
    assert manifest.agent == EXPERT and manifest.method == "grpo"
    assert manifest.prompt_version == tag_prompts.EXPERT_PROMPT_VERSION
    assert {"hit_in_pool", "valid", "fallback", "target_in_pool", "reward_first"} <= set(manifest.validation)
    # Before and after, as JSON: the base model and the newest expert adapter on the same examples (of users
    # past the evaluation's 1,000).
    bigger = catalogue.write(tmp_path / "bigger", users=1300)
    args = ["eval-answers", "--agent", "experts", "--catalogue", str(bigger)]
    args += ["--model-dir", str(tiny_model_folder), "--adapters-dir", str(tmp_path / "adapters")]
    args += ["--adapter", "latest", "--examples", "2", "--expert-near", "0", "--json"]
    capsys.readouterr()  # what the trainer printed
    assert cli.main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["agent"] == EXPERT and set(result["models"]) == {"base", manifest.version}
    for figures in result["models"].values():
        assert {"hit_in_pool", "valid", "fallback", "parsed"} <= set(figures)
        assert 0.0 <= figures["hit_in_pool"] <= figures["target_in_pool"] <= 1.0
