"""Every file under deploy/k8s, by path: the base, each component's folder and the example overlay."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from recgpt_tools import container_layout, registry
from recgpt_tools.k8s import components, objects, workloads
from recgpt_tools.registry import Process

K8S_DIR = Path("deploy/k8s")
BASE_DIR = K8S_DIR / "base"
COMPONENTS_DIR = K8S_DIR / "components"
OVERLAY_DIR = K8S_DIR / "overlays" / "production"
# The files some are copied from (the experiment config, the dashboards): this checkout's.
SOURCE_ROOT = Path(__file__).resolve().parents[3]
EXPERIMENTS_SOURCE = Path("deploy/experiments.yaml")
# The example overlay: a cluster with managed Redis, Prometheus Operator, KEDA and production-stack.
PRODUCTION_COMPONENTS = ("external-redis", "network-policies", "autoscaling", "prometheus-operator",
                         "production-stack")  # fmt: skip
PRODUCTION_IMAGE = "registry.example.com/recgpt/recgpt-platform"

_GENERATED = (
    "# Generated from the process registry (services/recgpt_tools/registry.py) by `make deploy-files`:\n"
    "# edit the registry, not this file.\n"
)


def _process_file(process: Process, table: Sequence[Process]) -> str:
    return _GENERATED + objects.to_yaml(
        workloads.service_account(process.name),
        *workloads.services(process),
        workloads.deployment(process, table),
    )


def _literals(values: dict[str, str]) -> list[str]:
    return [f"{key}={value}" for key, value in values.items()]


def _base(table: Sequence[Process]) -> dict[Path, str]:
    deployed = objects.deployed(table)
    files = {BASE_DIR / f"{process.name}.yaml": _process_file(process, table) for process in deployed}
    files[BASE_DIR / "namespace.yaml"] = _GENERATED + objects.to_yaml(workloads.namespace())
    files[BASE_DIR / "storage.yaml"] = _GENERATED + objects.to_yaml(*workloads.claims())
    files[BASE_DIR / "prepare-job.yaml"] = _GENERATED + objects.to_yaml(
        workloads.service_account(objects.PREPARE_JOB), workloads.prepare_job()
    )
    # kustomize reads only files below the kustomization: the experiment config is copied beside it.
    files[BASE_DIR / objects.EXPERIMENTS_FILE] = (SOURCE_ROOT / EXPERIMENTS_SOURCE).read_text()
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": objects.NAMESPACE,
        "resources": ["namespace.yaml", "storage.yaml", "prepare-job.yaml",
                      *(f"{process.name}.yaml" for process in deployed)],
        "configMapGenerator": [
            {"name": objects.SETTINGS_CONFIG, "literals": _literals(container_layout.COMMON_ENV)},
            {"name": objects.LLM_CONFIG, "literals": _literals(workloads.llm_settings(deployed))},
            {"name": objects.EXPERIMENTS_CONFIG, "files": [objects.EXPERIMENTS_FILE]},
        ],
    }  # fmt: skip
    header = (
        f"# The platform in one namespace ({objects.NAMESPACE}), as on one machine: in-cluster Redis and\n"
        "# CPU engine. Components (../components) adapt it to a cluster's services; see docs/deploy.md.\n"
    )
    files[BASE_DIR / "kustomization.yaml"] = _GENERATED + header + objects.to_yaml(kustomization)
    return files


def _overlay() -> str:
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["../../base"],
        "components": [f"../../components/{name}" for name in PRODUCTION_COMPONENTS],
        "images": [{"name": objects.IMAGE.partition(":")[0], "newName": PRODUCTION_IMAGE, "newTag": "0.1.0"}],
    }
    header = (
        "# An example production overlay: managed Redis, network policies, autoscaling, Prometheus Operator\n"
        "# and vLLM production-stack (deploy/production-stack/values.yaml) as the LLM layer.\n"
    )
    return _GENERATED + header + objects.to_yaml(kustomization)


def files(table: Sequence[Process] = registry.PROCESSES) -> dict[Path, str]:
    """Every generated file under deploy/k8s (relative to the repository root) and its text."""
    made = _base(table)
    for component in components.COMPONENTS:
        for name, text in component.render(table, SOURCE_ROOT).items():
            made[COMPONENTS_DIR / component.name / name] = (
                text if name.endswith(".json") else _GENERATED + text
            )
    made[OVERLAY_DIR / "kustomization.yaml"] = _overlay()
    return made
