"""deploy/production-stack holds only keys the vllm-stack chart knows, with the types it wants, and
LoraAdapter resources its CRD accepts; the engines serve what the agents ask for."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]

from recgpt_serving.llm.client import USER_ID_HEADER
from recgpt_serving.llm.models import DEFAULT_MODEL_NAME
from recgpt_tools import production_stack, vllm_engine
from recgpt_tools.k8s import objects

UPSTREAM = Path(__file__).resolve().parent / "production_stack"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _closed(schema: Any) -> Any:
    """The schema with unknown keys refused wherever it lists the known ones (the chart's leaves them
    open), so that a misspelt key fails instead of being ignored by the templates."""
    if isinstance(schema, dict):
        closed = {key: _closed(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


def _values_validator() -> Any:
    schema = json.loads((UPSTREAM / "values.schema.json").read_text())
    return jsonschema.Draft7Validator(_closed(schema))


def _adapter_validator() -> Any:
    crd = yaml.safe_load((UPSTREAM / "crd-lora-adapter.yaml").read_text())
    (version,) = crd["spec"]["versions"]
    return jsonschema.Draft7Validator(_closed(version["schema"]["openAPIV3Schema"]))


def _errors(validator: Any, document: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_the_values_hold_only_keys_of_the_chart_schema() -> None:
    values = yaml.safe_load((REPO_ROOT / production_stack.VALUES_FILE).read_text())
    assert _errors(_values_validator(), values) == []


def test_a_misspelt_or_mistyped_key_is_refused() -> None:
    values = production_stack.values()
    misspelt = copy.deepcopy(values)
    misspelt["routerSpec"]["sesionKey"] = "x-user-id"
    assert any("sesionKey" in error for error in _errors(_values_validator(), misspelt))
    mistyped = copy.deepcopy(values)
    mistyped["routerSpec"]["routingLogic"] = "sticky"
    assert _errors(_values_validator(), mistyped)


def test_the_router_keeps_a_user_on_one_engine_by_the_header_the_agents_send() -> None:
    router = production_stack.values()["routerSpec"]
    assert (router["routingLogic"], router["sessionKey"]) == ("session", USER_ID_HEADER.lower())


def test_the_engines_serve_the_agents_model_with_adapters_and_scale_on_queued_requests() -> None:
    (spec,) = production_stack.values()["servingEngineSpec"]["modelSpec"]
    args = spec["vllmConfig"]["extraArgs"]
    assert args[args.index("--served-model-name") + 1] == DEFAULT_MODEL_NAME
    assert args[args.index("--scheduling-policy") + 1] == "priority"
    assert spec["enableLoRA"] and spec["vllmConfig"]["enablePrefixCaching"]
    assert spec["keda"]["enabled"] and spec["keda"]["maxReplicaCount"] > spec["keda"]["minReplicaCount"]
    # The agents' key and the engines' are one Secret.
    assert (
        production_stack.values()["servingEngineSpec"]["vllmApiKey"]["secretName"] == objects.LLM_KEY_SECRET
    )


def test_the_lora_adapters_pass_the_crd_schema_and_name_what_the_agents_ask_for() -> None:
    adapters = list(yaml.safe_load_all((REPO_ROOT / production_stack.LORA_ADAPTERS_FILE).read_text()))
    assert {a["spec"]["adapterSource"]["adapterName"] for a in adapters} == {
        "interest_miner-v1", "tag_predictor-v1", "explainer-v1", "judge_verdict-v1", "tag_expert-v1"
    }  # fmt: skip
    for adapter in adapters:
        assert (adapter["apiVersion"], adapter["kind"]) == (
            "production-stack.vllm.ai/v1alpha1",
            "LoraAdapter",
        )
        assert adapter["spec"]["baseModel"] == production_stack.MODEL_SPEC
        assert _errors(_adapter_validator(), adapter) == []
    broken = copy.deepcopy(adapters[0])
    broken["spec"]["adapterSource"]["type"] = "ftp"
    assert _errors(_adapter_validator(), broken)


def _helm_merged(base: Any, over: Any) -> Any:
    """`helm -f base -f over`'s values: maps merged key by key, anything else (a list) replaced whole."""
    if not (isinstance(base, dict) and isinstance(over, dict)):
        return over
    return {**base, **{key: _helm_merged(base.get(key), value) for key, value in over.items()}}


def test_the_engines_take_prompt_embeddings_only_with_the_entity_tokens_values() -> None:
    base = yaml.safe_load((REPO_ROOT / production_stack.VALUES_FILE).read_text())
    over = yaml.safe_load((REPO_ROOT / production_stack.ENTITY_TOKENS_FILE).read_text())
    merged = _helm_merged(base, over)
    assert _errors(_values_validator(), merged) == []
    (plain,) = base["servingEngineSpec"]["modelSpec"]
    assert vllm_engine.PROMPT_EMBEDS_FLAG not in plain["vllmConfig"]["extraArgs"]
    # The flag, and nothing else of the release, changes.
    expected = copy.deepcopy(base)
    expected["servingEngineSpec"]["modelSpec"][0]["vllmConfig"]["extraArgs"].append(
        vllm_engine.PROMPT_EMBEDS_FLAG
    )
    assert merged == expected


@pytest.mark.skipif(shutil.which("helm") is None, reason="no helm binary here: the schema tests above stand")
def test_helm_lints_the_values_against_the_chart() -> None:
    """Where helm and the chart are at hand (a CI runner with network), the chart renders these values."""
    result = subprocess.run(
        ["helm", "template", "vllm", "vllm/vllm-stack", "-f", str(REPO_ROOT / production_stack.VALUES_FILE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
