"""The batch components (recgpt_tools.k8s.batch_jobs) rendered over the base with kubectl kustomize: the
near-line RayJob calls the services the near-line worker calls, the TrainJobs run torchrun on Kubeflow
Trainer's torch runtime and publish to the artefact store, and retrieval fetches towers from it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from recgpt_tools import registry
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
    assert set(jobs) == {"train-retrieval", "train-sft-tags", "train-grpo-tags"}
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
