"""Names every Kubernetes object of the platform shares, and the small builders they are made of."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml  # type: ignore[import-untyped]

from recgpt_tools.registry import Engine, Process

Manifest = dict[str, Any]

NAMESPACE = "recgpt"
IMAGE = "recgpt-platform:latest"
NAME_LABEL = "app.kubernetes.io/name"
PART_OF_LABEL = "app.kubernetes.io/part-of"
# A Deployment that serves nothing to probe says why in this annotation; the policy accepts no other.
NO_PROBES_ANNOTATION = "recgpt.io/no-probes"
# Pods that read the artefact store carry this label (with the value "client"): the network policies let
# them reach it, and no other pod.
ARTEFACT_STORE_LABEL = "recgpt.io/artefact-store"
ARTEFACT_STORE_CLIENT = "client"
# What JobSet (under Kubeflow Trainer's TrainJobs) labels each of its pods with.
JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"
# The one-shot Job that imports the dataset and its Redis user (deploy_secrets.PREPARE).
PREPARE_JOB = "recgpt-prepare"
# Volumes: the prepared data, models and index (written by the Job, read by the services); the dataset the
# Job imports; Redis's append-only file.
VAR_CLAIM = "recgpt-var"
DATASET_CLAIM = "recgpt-dataset"
REDIS_DATA_CLAIM = "redis-data"
# ConfigMaps (kustomize generates them, a rollout follows a change) and Secrets (made from deploy/secrets by
# the operator, never in the manifests).
SETTINGS_CONFIG = "recgpt-settings"
LLM_CONFIG = "recgpt-llm"
EXPERIMENTS_CONFIG = "recgpt-experiments"
LLM_KEY_SECRET = "recgpt-llm-key"
API_KEYS_SECRET = "recgpt-api-keys"
REDIS_ACL_SECRET = "recgpt-redis-acl"
EXTERNAL_REDIS_SECRET = "recgpt-redis-external"
# Where the gateway finds its keys file and the experiment config inside its container.
API_KEYS_DIR = "/etc/recgpt/keys"
EXPERIMENTS_DIR = "/etc/recgpt/experiments"
EXPERIMENTS_FILE = "experiments.yaml"
# Prometheus Operator's namespace: its Prometheus scrapes the metrics ports, KEDA queries it.
MONITORING_NAMESPACE = "monitoring"
PROMETHEUS_URL = f"http://prometheus-operated.{MONITORING_NAMESPACE}.svc:9090"
# vLLM production-stack's router (deploy/production-stack: Helm release `vllm` in namespace `vllm-stack`).
PRODUCTION_STACK_NAMESPACE = "vllm-stack"
ROUTER_URL = f"http://vllm-router-service.{PRODUCTION_STACK_NAMESPACE}.svc.cluster.local/v1"
# Only the launcher runs it: in a cluster one Redis (or the managed one) holds the caches too.
LOCAL_ONLY = frozenset({Engine.CACHE_REDIS})


def redis_secret(user: str) -> str:
    """The Secret holding REDIS_URL for one Redis user (deploy/secrets/redis-<user>.env)."""
    return f"recgpt-redis-{user}"


def labels(name: str) -> dict[str, str]:
    return {NAME_LABEL: name, PART_OF_LABEL: "recgpt"}


def selector(name: str) -> dict[str, str]:
    return {NAME_LABEL: name}


def metadata(name: str, **extra: Any) -> Manifest:
    return {"name": name, "labels": labels(name), **extra}


def headless(process: Process) -> str:
    return f"{process.name}-headless"


def public_service(process: Process) -> str:
    return f"{process.name}-public"


def grpc_target(process: Process) -> str:
    """What a caller dials: every pod behind the headless Service, spread by round_robin."""
    return f"dns:///{headless(process)}.{NAMESPACE}.svc.cluster.local:{process.port}"


def scrape_port_name(process: Process) -> str | None:
    """The named port Prometheus scrapes /metrics on; None: the process exports none."""
    if process.metrics_port is not None:
        return "metrics"
    if process.internal_port is not None:
        return "internal"
    if process.metrics_on_port:
        return "http"
    return None


def main_port_name(process: Process) -> str:
    if process.grpc_service is not None:
        return "grpc"
    return "redis" if process.command in (Engine.REDIS, Engine.CACHE_REDIS) else "http"


def deployed(table: Sequence[Process]) -> tuple[Process, ...]:
    """The processes a cluster runs."""
    return tuple(process for process in table if process.command not in LOCAL_ONLY)


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    """Writes a string of several lines (an inline patch) as a literal block, as a person would, and a
    mapping used twice (a probe's check) twice, not as an anchor."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _string(dumper: yaml.SafeDumper, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def to_yaml(*documents: Any) -> str:
    """YAML documents in the order given, keys as built (a Deployment reads top-down)."""
    return "---\n".join(
        yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=110) for document in documents
    )
