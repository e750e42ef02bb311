"""Kustomize components: each changes the base for one thing a cluster provides (GPUs, a managed Redis,
network policies, autoscalers, Prometheus Operator, vLLM production-stack), and any set of them that does
not conflict combines."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recgpt_tools import container_layout, deploy_secrets, vllm_engine
from recgpt_tools.k8s import batch_jobs, network, objects
from recgpt_tools.k8s.objects import Manifest
from recgpt_tools.registry import CpuTarget, Engine, Process, QueueTarget

DASHBOARDS_DIR = Path("deploy/grafana/dashboards")
# One GPU engine: what the CUDA build asks of its node.
_GPU_RESOURCES: Manifest = {
    "requests": {"cpu": "4000m", "memory": "16Gi", "nvidia.com/gpu": 1},
    "limits": {"memory": "32Gi", "nvidia.com/gpu": 1},
}

Files = dict[str, str]


@dataclass(frozen=True)
class Component:
    """One component: its folder's files, the processes it takes out of the cluster, those it cannot meet."""

    name: str
    summary: str
    render: Callable[[Sequence[Process], Path], Files]
    removes: frozenset[str] = frozenset()
    conflicts: frozenset[str] = frozenset()
    # Jobs beside the platform (KubeRay, Kubeflow Trainer), with patches that hold over any set of platform
    # components: validated with the base alone and with each largest compatible set, not in every subset.
    add_on: bool = False


def _kustomization(summary: str, **fields: Any) -> str:
    body = {"apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component", **fields}
    return f"# {summary}\n" + objects.to_yaml(body)


def _json_patch(kind: str, name: str, operations: list[Manifest]) -> Manifest:
    return {"target": {"kind": kind, "name": name}, "patch": objects.to_yaml(operations)}


def _delete(api_version: str, kind: str, name: str) -> Manifest:
    document = {"$patch": "delete", "apiVersion": api_version, "kind": kind, "metadata": {"name": name}}
    return {"patch": objects.to_yaml(document)}


def _engine(table: Sequence[Process]) -> Process:
    return next(process for process in table if process.command is Engine.VLLM)


def gpu_engines(table: Sequence[Process], root: Path) -> Files:
    """The engine on an NVIDIA GPU: the CUDA build's image and command, a GPU requested and tolerated."""
    engine = _engine(table)
    assert engine.port is not None
    settings = container_layout.vllm_engine_settings(engine.port, device="cuda")
    container = "/spec/template/spec/containers/0"
    env = {"HOME": "/tmp", **vllm_engine.vllm_env(settings, {})}
    operations: list[Manifest] = [
        {"op": "replace", "path": f"{container}/image", "value": container_layout.VLLM_CUDA_IMAGE},
        {"op": "replace", "path": f"{container}/command",
         "value": vllm_engine.vllm_command(settings, python="python3")},
        {"op": "replace", "path": f"{container}/env",
         "value": [{"name": k, "value": v} for k, v in env.items()]},
        {"op": "replace", "path": f"{container}/resources", "value": _GPU_RESOURCES},
        {"op": "add", "path": "/spec/template/spec/tolerations",
         "value": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]},
    ]  # fmt: skip
    summary = (
        "vLLM's CUDA build on one NVIDIA GPU per engine (the NVIDIA device plugin serves nvidia.com/gpu)."
    )
    return {
        "kustomization.yaml": _kustomization(
            summary, patches=[_json_patch("Deployment", engine.name, operations)]
        )
    }


def external_redis(table: Sequence[Process], root: Path) -> Files:
    """A managed Redis or Valkey instead of the in-cluster one: every process reads its REDIS_URL from one
    Secret (rediss://user:password@host:6380/0), the Redis objects go."""
    redis = next(process for process in table if process.command is Engine.REDIS)
    swap = [{"op": "replace", "path": "/spec/template/spec/containers/0/envFrom/0/secretRef/name",
             "value": objects.EXTERNAL_REDIS_SECRET}]  # fmt: skip
    patches = [
        _delete("apps/v1", "Deployment", redis.name),
        _delete("v1", "Service", redis.name),
        _delete("v1", "ServiceAccount", redis.name),
        _delete("v1", "PersistentVolumeClaim", objects.REDIS_DATA_CLAIM),
        *(_json_patch("Deployment", process.name, swap) for process in _redis_users(table)),
        _json_patch("Job", objects.PREPARE_JOB, swap),
    ]
    summary = (
        f"A managed Redis/Valkey: REDIS_URL from Secret {objects.EXTERNAL_REDIS_SECRET} for every process; "
        "no Redis in the cluster."
    )
    return {"kustomization.yaml": _kustomization(summary, patches=patches)}


def _redis_users(table: Sequence[Process]) -> list[Process]:
    return [process for process in table if deploy_secrets.redis_user(process) is not None]


def network_policies(table: Sequence[Process], root: Path) -> Files:
    summary = "Deny by default; allow DNS, callers to what they call, the services to Redis and the engines."
    return {
        "kustomization.yaml": _kustomization(summary, resources=["network-policies.yaml"]),
        "network-policies.yaml": objects.to_yaml(*network.policies(objects.deployed(table))),
    }


def _hpa(process: Process, signal: CpuTarget) -> Manifest:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": objects.metadata(process.name, namespace=objects.NAMESPACE),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": process.name},
            "minReplicas": process.scaling.replicas,
            "maxReplicas": process.scaling.max_replicas,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": signal.percent}}}],
            # Down slowly: a replica that goes takes its connections (and gRPC clients re-resolve).
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }  # fmt: skip


def _scaled_object(process: Process, signal: QueueTarget) -> Manifest:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": objects.metadata(process.name, namespace=objects.NAMESPACE),
        "spec": {
            "scaleTargetRef": {"name": process.name},
            "minReplicaCount": process.scaling.replicas,
            "maxReplicaCount": process.scaling.max_replicas,
            "triggers": [{"type": "prometheus", "metadata": {
                "serverAddress": objects.PROMETHEUS_URL,
                "query": signal.query,
                "threshold": str(signal.per_replica)}}],
        },
    }  # fmt: skip


def _disruption_budget(process: Process) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": objects.metadata(process.name, namespace=objects.NAMESPACE),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": objects.selector(process.name)}},
    }


def autoscaling(table: Sequence[Process], root: Path) -> Files:
    """Each process on its registry signal: CPU through a HorizontalPodAutoscaler, queued work through a
    KEDA ScaledObject on Prometheus; a disruption budget wherever two replicas or more serve."""
    scaled: list[Manifest] = []
    patches: list[Manifest] = []
    for process in objects.deployed(table):
        signal = process.scaling.signal
        if isinstance(signal, CpuTarget):
            scaled.append(_hpa(process, signal))
        elif isinstance(signal, QueueTarget):
            scaled.append(_scaled_object(process, signal))
        if signal is not None:
            # The autoscaler owns the count: an apply must not reset it.
            patches.append(
                _json_patch("Deployment", process.name, [{"op": "remove", "path": "/spec/replicas"}])
            )
        if process.scaling.replicas >= 2:
            scaled.append(_disruption_budget(process))
    summary = "HorizontalPodAutoscalers (metrics-server), KEDA ScaledObjects (KEDA, Prometheus), PDBs."
    return {
        "kustomization.yaml": _kustomization(summary, resources=["autoscaling.yaml"], patches=patches),
        "autoscaling.yaml": objects.to_yaml(*scaled),
    }


def _service_monitor(process: Process, port: str) -> Manifest:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": objects.metadata(process.name, namespace=objects.NAMESPACE),
        "spec": {
            "selector": {"matchLabels": objects.selector(process.name)},
            "endpoints": [{"port": port, "path": "/metrics", "interval": "15s"}],
        },
    }


def prometheus_operator(table: Sequence[Process], root: Path) -> Files:
    """A ServiceMonitor per process that exports metrics; the Grafana dashboards as ConfigMaps that
    Grafana's dashboard sidecar (label grafana_dashboard) loads."""
    monitors = [
        _service_monitor(process, port)
        for process in objects.deployed(table)
        if (port := objects.scrape_port_name(process)) is not None
    ]
    dashboards = sorted((root / DASHBOARDS_DIR).glob("*.json"))
    generators = [
        {"name": f"grafana-dashboard-{path.stem}", "namespace": objects.NAMESPACE,
         "files": [f"dashboards/{path.name}"],
         "options": {"labels": {"grafana_dashboard": "1"}, "disableNameSuffixHash": True}}
        for path in dashboards
    ]  # fmt: skip
    summary = "ServiceMonitors for Prometheus Operator, and the Grafana dashboards of deploy/grafana."
    files = {
        "kustomization.yaml": _kustomization(
            summary, resources=["service-monitors.yaml"], configMapGenerator=generators
        ),
        "service-monitors.yaml": objects.to_yaml(*monitors),
    }
    for path in dashboards:
        files[f"dashboards/{path.name}"] = path.read_text()
    return files


def production_stack(table: Sequence[Process], root: Path) -> Files:
    """The agents call vLLM production-stack's router (deploy/production-stack) instead of the in-cluster
    engine: one setting, RECGPT_LLM_ENDPOINTS; the engine's objects go."""
    engine = _engine(table)
    patches = [
        _delete("apps/v1", "Deployment", engine.name),
        _delete("v1", "Service", engine.name),
        _delete("v1", "ServiceAccount", engine.name),
    ]
    generator = [{"name": objects.LLM_CONFIG, "behavior": "merge",
                  "literals": [f"RECGPT_LLM_ENDPOINTS={objects.ROUTER_URL}"]}]  # fmt: skip
    summary = f"The LLM layer is vLLM production-stack's router ({objects.ROUTER_URL}); no engine here."
    return {"kustomization.yaml": _kustomization(summary, patches=patches, configMapGenerator=generator)}


COMPONENTS: tuple[Component, ...] = (
    Component("gpu-engines", "vLLM on NVIDIA GPUs", gpu_engines, conflicts=frozenset({"production-stack"})),
    Component("external-redis", "a managed Redis or Valkey", external_redis, removes=frozenset({"redis"})),
    Component("network-policies", "deny by default, allow what the registry says", network_policies),
    Component("autoscaling", "HPA, KEDA and disruption budgets", autoscaling),
    Component("prometheus-operator", "ServiceMonitors and Grafana dashboards", prometheus_operator),
    Component(
        "production-stack",
        "the agents on vLLM production-stack's router",
        production_stack,
        removes=frozenset({"vllm"}),
        conflicts=frozenset({"gpu-engines"}),
    ),
    Component(
        "ray-nearline", "the near-line refresh as a KubeRay RayJob", batch_jobs.ray_nearline, add_on=True
    ),
    Component(
        "kubeflow-training",
        "towers, adapters and entity tokens trained by Kubeflow Trainer, published to the artefact store",
        batch_jobs.kubeflow_training,
        add_on=True,
    ),
)


def by_name(name: str) -> Component:
    for component in COMPONENTS:
        if component.name == name:
            return component
    raise KeyError(f"no component {name!r}")


def compatible(chosen: Sequence[Component]) -> bool:
    names = {component.name for component in chosen}
    return not any(component.conflicts & names for component in chosen)
