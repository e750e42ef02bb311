"""The batch components (recgpt_tools.k8s.batch_jobs) rendered over the base with kubectl kustomize: the
near-line RayJob calls the services the near-line worker calls, the TrainJobs run on Kubeflow Trainer's torch
runtime and publish to the artefact store, retrieval fetches towers from it, intent and tags the entity
tokens before they start, and the engine takes prompt embeddings only where entity tokens are deployed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from recgpt_tools import container_layout, registry, vllm_engine
from recgpt_tools.k8s import batch_jobs, files, objects
from recgpt_tools.k8s.validate import kustomize

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = {"ray-nearline": batch_jobs.ray_nearline, "kubeflow-training": batch_jobs.kubeflow_training}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    folder = tmp_path_factory.mktemp("overlay")
    relative = os.path.relpath(ROOT / files.K8S_DIR, folder)
    (folder / "kustomization.yaml").write_text(
        objects.to_yaml(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [f"{relative}/base"],
                "components": [f"{relative}/components/{name}" for name in COMPONENTS],
            }
        )
    )
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in kustomize(folder)}


@pytest.mark.parametrize("name", COMPONENTS)
def test_the_component_folders_hold_what_the_render_functions_make(name: str) -> None:
    for file_name, text in COMPONENTS[name](registry.PROCESSES, ROOT).items():
        assert (ROOT / files.COMPONENTS_DIR / name / file_name).read_text() == files._GENERATED + text


def test_the_rayjob_refreshes_through_the_services_the_worker_calls(
    rendered: dict[tuple[str, str], Any],
) -> None:
    job = rendered["RayJob", "nearline-refresh"]
    assert job["metadata"]["namespace"] == objects.NAMESPACE
    assert "nearline.ray_pipeline" in job["spec"]["entrypoint"]
    assert job["spec"]["shutdownAfterJobFinishes"] is True
    head = job["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    nearline = registry.by_name("nearline")
    expected = {
        f"RECGPT_{name.upper()}_TARGET": objects.grpc_target(registry.by_name(name))
        for name in nearline.targets
    }
    env = {entry["name"]: entry.get("value") for entry in head["env"]}
    assert expected.items() <= env.items()
    assert all(target.startswith("dns:///") for target in expected.values())


def test_trainjobs_run_torchrun_on_the_torch_runtime_and_publish(
    rendered: dict[tuple[str, str], Any],
) -> None:
    jobs = {name: doc for (kind, name), doc in rendered.items() if kind == "TrainJob"}
    assert set(jobs) == {"train-retrieval", "train-sft-tags", "train-grpo-tags", "train-entities"}
    assert (
        rendered["ConfigMap", batch_jobs.ARTEFACT_STORE_CONFIG]["metadata"]["namespace"] == objects.NAMESPACE
    )
    assert "torchrun -m towers.train_cli" in jobs["train-retrieval"]["spec"]["trainer"]["command"][-1]
    assert jobs["train-retrieval"]["spec"]["trainer"]["numNodes"] == 2
    for job in jobs.values():
        assert job["apiVersion"] == "trainer.kubeflow.org/v1alpha1"
        assert job["metadata"]["namespace"] == objects.NAMESPACE
        assert job["spec"]["runtimeRef"]["name"] == batch_jobs.TORCH_RUNTIME
        store = next(e for e in job["spec"]["trainer"]["env"] if e["name"] == "RECGPT_ARTEFACT_STORE_URL")
        assert store["valueFrom"]["configMapKeyRef"]["name"] == batch_jobs.ARTEFACT_STORE_CONFIG
    # The name the jobs read is the ConfigMap's own (no hash suffix to rewrite).
    assert ("ConfigMap", batch_jobs.ARTEFACT_STORE_CONFIG) in rendered


def test_retrieval_fetches_towers_from_the_store_into_a_writable_folder(
    rendered: dict[tuple[str, str], Any],
) -> None:
    container = rendered["Deployment", "retrieval"]["spec"]["template"]["spec"]["containers"][0]
    env = {entry["name"]: entry for entry in container["env"]}
    assert env["RECGPT_ARTEFACT_STORE_URL"]["valueFrom"]["configMapKeyRef"]["name"] == (
        batch_jobs.ARTEFACT_STORE_CONFIG
    )
    towers = env["RECGPT_TOWERS_DIR"]["value"]
    writable = [m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")]
    assert any(towers.startswith(path + "/") for path in writable), (towers, writable)
    # The rest of its settings are still there.
    assert "RECGPT_PORT" in env


def test_the_entity_job_trains_on_the_served_catalogue_and_model_then_publishes(
    rendered: dict[tuple[str, str], Any],
) -> None:
    trainer = rendered["TrainJob", "train-entities"]["spec"]["trainer"]
    script = trainer["command"][-1]
    train, publish = script.split(" && read -r version < ")
    assert train.startswith("python -m agent_training.entity_cli ")
    assert f"--catalogue {container_layout.DATA_DIRS['catalogue']} " in train
    assert f"--model {container_layout.MODEL_DIR} " in train
    assert "python -m recgpt_tools.artefact_sync publish entities " in publish
    # `$(...)` would be Kubernetes' variable syntax in a command; the version is read into a shell variable.
    assert "$(" not in script
    env = {entry["name"]: entry.get("value") for entry in trainer["env"]}
    assert env["RECGPT_EMBEDDING_MODELS_DIR"] == container_layout.COMMON_ENV["RECGPT_EMBEDDING_MODELS_DIR"]
    assert trainer["numNodes"] == 1


def _pod(rendered: dict[tuple[str, str], Any], name: str) -> Any:
    return rendered["Deployment", name]["spec"]["template"]["spec"]


@pytest.mark.parametrize("agent", batch_jobs.ENTITY_AGENTS)
def test_the_agents_fetch_entity_tokens_before_they_start_into_the_folder_they_load(
    rendered: dict[tuple[str, str], Any], agent: str
) -> None:
    pod = _pod(rendered, agent)
    (fetch,) = pod["initContainers"]
    assert fetch["command"][:5] == ["python", "-m", "recgpt_tools.artefact_sync", "fetch", "entities"]
    into = fetch["command"][fetch["command"].index("--into") + 1]
    # A store it cannot read leaves the agent to start on text, as retrieval serves on without towers.
    assert "--best-effort" in fetch["command"]
    store = next(e for e in fetch["env"] if e["name"] == "RECGPT_ARTEFACT_STORE_URL")
    assert store["valueFrom"]["configMapKeyRef"]["name"] == batch_jobs.ARTEFACT_STORE_CONFIG
    (container,) = pod["containers"]
    env = {entry["name"]: entry.get("value") for entry in container["env"]}
    assert env["RECGPT_ENTITY_DIR"] == into
    # The same writable volume in both containers, the pod's own.
    volume = {m["mountPath"]: m["name"] for m in fetch["volumeMounts"]}[into]
    assert {m["mountPath"]: m["name"] for m in container["volumeMounts"]}[into] == volume
    assert not any(m.get("readOnly") for m in fetch["volumeMounts"] if m["name"] == volume)
    assert "emptyDir" in next(v for v in pod["volumes"] if v["name"] == volume)
    # The rest of its settings and volumes are still there.
    assert "RECGPT_PORT" in env and {"tmp", "var"} <= {v["name"] for v in pod["volumes"]}


def test_other_agents_keep_the_shared_entity_folder(rendered: dict[tuple[str, str], Any]) -> None:
    pod = _pod(rendered, "explain")
    assert "initContainers" not in pod
    assert "RECGPT_ENTITY_DIR" not in {entry["name"] for entry in pod["containers"][0]["env"]}
    settings = next(
        doc for (kind, name), doc in rendered.items()
        if kind == "ConfigMap" and name.startswith(objects.SETTINGS_CONFIG)
    )  # fmt: skip
    assert settings["data"]["RECGPT_ENTITY_DIR"].startswith(container_layout.VAR + "/models/")


def test_the_engine_takes_prompt_embeddings_only_with_the_component(
    rendered: dict[tuple[str, str], Any],
) -> None:
    (engine,) = _pod(rendered, "vllm")["containers"]
    assert engine["args"] == [vllm_engine.PROMPT_EMBEDS_FLAG]
    base = {(d["kind"], d["metadata"]["name"]): d for d in kustomize(ROOT / files.BASE_DIR)}
    (plain,) = base["Deployment", "vllm"]["spec"]["template"]["spec"]["containers"]
    assert "args" not in plain and vllm_engine.PROMPT_EMBEDS_FLAG not in plain["command"]
