"""Bad input to `recgpt-train`: a clear error and exit status 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_training import artefact, cli
from tests.agent_training import catalogue
from tests.agent_training.adapters import manifest, save_peft


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = cli.main(args)
    return status, capsys.readouterr().err


def test_unknown_agent(tmp_path: Path, tiny_model_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, err = run(["sft", "--agent", "poet", "--model-dir", str(tiny_model_folder)], capsys)
    assert status == cli.EXIT_BAD_INPUT and "unknown agent 'poet'" in err


def test_users_too_short_for_any_example(
    tmp_path: Path, tiny_model_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The made-up users 0 and 1 have one and two interactions: nothing to cut once the last is held out.
    folder = catalogue.write(tmp_path / "catalogue", users=2)
    args = ["sft", "--agent", "tags", "--catalogue", str(folder), "--model-dir", str(tiny_model_folder)]
    status, err = run([*args, "--adapters-dir", str(tmp_path / "adapters")], capsys)
    assert status == cli.EXIT_BAD_INPUT and "no usable tag_predictor example" in err
    assert artefact.newest_adapter(tmp_path / "adapters", "tag_predictor") is None


def test_adapter_of_another_base_model(
    tmp_path: Path, tiny_model_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = artefact.write_adapter(tmp_path / "adapters", manifest("v1", base="llama-7b"), save_peft)
    args = ["eval-tags", "--agent", "tags", "--catalogue", str(catalogue.write(tmp_path / "catalogue"))]
    args += ["--tag-mode", "generate"]
    status, err = run([*args, "--model-dir", str(tiny_model_folder), "--adapter", str(folder)], capsys)
    assert status == cli.EXIT_BAD_INPUT and "trained on 'llama-7b'" in err


def test_an_adapter_of_another_prompt_is_refused(
    tmp_path: Path, tiny_model_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A generate-mode tag adapter is neither measured nor continued on choose-mode examples."""
    folder = artefact.write_adapter(tmp_path / "adapters", manifest("v1"), save_peft)
    data = str(catalogue.write(tmp_path / "catalogue"))
    common = ["--agent", "tags", "--catalogue", data, "--model-dir", str(tiny_model_folder)]
    common += ["--adapters-dir", str(tmp_path / "adapters"), "--tag-mode", "choose"]
    status, err = run(["eval-answers", *common, "--adapter", str(folder)], capsys)
    assert status == cli.EXIT_BAD_INPUT and "learnt prompt 'tags-v1.0'" in err
    assert "'tags-choose-v1.1'" in err
    status, err = run(["grpo", *common, "--from", "latest"], capsys)
    assert status == cli.EXIT_BAD_INPUT and "learnt prompt 'tags-v1.0'" in err


def test_missing_model_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, err = run(["sft", "--agent", "tags", "--model-dir", str(tmp_path / "nothing")], capsys)
    assert status == cli.EXIT_BAD_INPUT and "recgpt-llm-model" in err


def test_no_base_without_an_adapter(
    tmp_path: Path, tiny_model_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["eval-tags", "--agent", "tags", "--catalogue", str(catalogue.write(tmp_path / "catalogue"))]
    status, err = run([*args, "--model-dir", str(tiny_model_folder), "--no-base"], capsys)
    assert status == cli.EXIT_BAD_INPUT and "--no-base measures adapters" in err


def test_eval_answers_needs_an_example(
    tmp_path: Path, tiny_model_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = catalogue.write(tmp_path / "catalogue")
    args = ["eval-answers", "--agent", "explainer", "--catalogue", str(folder)]
    status, err = run([*args, "--model-dir", str(tiny_model_folder), "--examples", "0"], capsys)
    assert status == cli.EXIT_BAD_INPUT and "--examples must be at least 1" in err


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--expert-near", "-1"], "--expert-near must be 0 (none) or more"),
        (["--expert-pool", "0"], "--expert-pool must be at least 1"),
        (["--expert-tags", "0"], "--expert-tags must be at least 1"),
        (["--persona-categories", "0"], "--persona-categories must be at least 1"),
    ],
)
def test_expert_options_out_of_range(
    tiny_model_folder: Path, capsys: pytest.CaptureFixture[str], option: list[str], message: str
) -> None:
    status, err = run(["grpo", "--agent", "experts", "--model-dir", str(tiny_model_folder), *option], capsys)
    assert status == cli.EXIT_BAD_INPUT and message in err


def test_expert_options_make_the_examples_as_the_service_is_set(tiny_model_folder: Path) -> None:
    """The experts' RECGPT_EXPERT_* settings, given to training alike, and their serving defaults."""
    model = ["--model-dir", str(tiny_model_folder)]
    args = cli.parse(["grpo", "--agent", "experts", *model, "--shaping", "sum"])
    job = cli._job(args)
    assert job.agent == "tag_expert" and job.prompt_version == "tag-expert-v2.1" and args.shaping == "sum"
    config = job.data_config
    assert (config.expert_tags, config.expert_pool, config.expert_near) == (10, 18, 8)
    assert (config.expert_budget_tokens, config.persona_categories) == (160, 3)
    assert job.expert_constraints.max_picks == 10
    told = ["--expert-tags", "6", "--expert-pool", "12", "--expert-near", "0", "--expert-budget-tokens", "80"]
    told += ["--persona-categories", "2"]
    job = cli._job(cli.parse(["grpo", "--agent", "tag_expert", *model, *told]))
    config = job.data_config
    assert (config.expert_tags, config.expert_pool, config.expert_near) == (6, 12, 0)
    assert (config.expert_budget_tokens, config.persona_categories) == (80, 2)
    assert job.expert_constraints.max_picks == 6 and job.near_categories is None, "no embedder when none near"


def test_an_expert_adapter_is_not_a_tag_adapter(
    tmp_path: Path, tiny_model_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tag agent's adapter learnt another prompt: the expert neither continues from it nor measures it."""
    folder = artefact.write_adapter(tmp_path / "adapters", manifest("v1"), save_peft)
    args = ["grpo", "--agent", "experts", "--model-dir", str(tiny_model_folder), "--from", str(folder)]
    status, err = run(args, capsys)
    assert status == cli.EXIT_BAD_INPUT and "learnt prompt 'tags-v1.0'" in err and "'tag-expert-v2.1'" in err
