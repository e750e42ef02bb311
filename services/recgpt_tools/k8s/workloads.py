"""The base's objects: each process's ServiceAccount, Deployment and Services from its registry entry,
the import Job, the volumes and the namespace."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from recgpt_serving.llm.models import DEFAULT_MODEL_NAME
from recgpt_tools import container_layout, deploy_secrets, redis_server, registry, vllm_engine
from recgpt_tools.k8s import objects
from recgpt_tools.k8s.objects import Manifest
from recgpt_tools.registry import ConsoleScript, Engine, GrpcHealth, HttpOk, Process, RedisPing, Starts

# Probe cadence: readiness reacts within ~10 s, liveness restarts after ~30 s of silence.
_READY_PERIOD_S, _LIVE_PERIOD_S, _STARTUP_PERIOD_S = 5, 10, 5
# A Redis that answers NOAUTH is up: its default user is off (deploy_secrets.acl), so PING needs a login.
_REDIS_PING = ["sh", "-c", f"redis-cli -p {container_layout.REDIS_PORT} ping | grep -qE '^(PONG|NOAUTH)'"]


def resources(process: Process) -> Manifest:
    spec = process.resources
    return {
        "requests": {"cpu": f"{spec.cpu_m}m", "memory": f"{spec.memory_mib}Mi"},
        "limits": {"memory": f"{spec.memory_limit_mib}Mi"},
    }


def container_security() -> Manifest:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def pod_security(uid: int) -> Manifest:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _check(process: Process, service: str | None = None, path: str | None = None) -> Manifest:
    """One probe's action: gRPC health, an HTTP GET or Redis's PING."""
    ready = process.ready
    if isinstance(ready, GrpcHealth):
        return {"grpc": {"port": process.port, "service": ready.service if service is None else service}}
    if isinstance(ready, HttpOk):
        port = "http" if process.port is not None else "metrics"
        return {"httpGet": {"path": path or ready.path, "port": port}}
    if isinstance(ready, RedisPing):
        return {"exec": {"command": _REDIS_PING}}
    raise ValueError(f"{process.name}: nothing to probe")


def probes(process: Process) -> Manifest:
    """Startup (its whole loading budget), readiness (the service itself), liveness (the process alive)."""
    ready = process.ready
    alive = _check(process, service="", path=ready.alive_path if isinstance(ready, HttpOk) else None)
    return {
        "startupProbe": {
            **alive,
            "periodSeconds": _STARTUP_PERIOD_S,
            "timeoutSeconds": 2,
            "failureThreshold": math.ceil(process.startup_s / _STARTUP_PERIOD_S),
        },
        "readinessProbe": {**_check(process), "periodSeconds": _READY_PERIOD_S, "timeoutSeconds": 2,
                           "failureThreshold": 2},
        "livenessProbe": {**alive, "periodSeconds": _LIVE_PERIOD_S, "timeoutSeconds": 2,
                          "failureThreshold": 3},
    }  # fmt: skip


def ports(process: Process) -> list[Manifest]:
    found = [
        (objects.main_port_name(process), _container_port(process)),
        ("metrics", process.metrics_port),
        ("internal", process.internal_port),
    ]
    return [{"name": name, "containerPort": port} for name, port in found if port is not None]


def _container_port(process: Process) -> int | None:
    return container_layout.REDIS_PORT if process.command is Engine.REDIS else process.port


def _env(values: dict[str, str]) -> list[Manifest]:
    return [{"name": name, "value": value} for name, value in values.items()]


def _calls_llm(process: Process) -> bool:
    return isinstance(process.command, ConsoleScript) and process.starts is Starts.WITH_LLM


def _service_env(process: Process, table: Sequence[Process]) -> dict[str, str]:
    """Its own settings: ports, data folders, the services it calls (each through its headless Service)."""
    addresses = registry.Addresses(table, host=lambda name: name, overrides={})
    env = registry.service_env(process, addresses, set(), container_layout.DATA_DIRS, llm=None)
    for name in process.targets:
        env[f"RECGPT_{name.upper()}_TARGET"] = objects.grpc_target(registry.by_name(name, table))
    env["HOME"] = "/tmp"
    if process.internal_port is not None:
        env["RECGPT_INTERNAL_BIND_HOST"] = "0.0.0.0"
    if process.checks_callers:
        env["RECGPT_API_KEYS_FILE"] = f"{objects.API_KEYS_DIR}/api-keys.json"
        # Each replica enforces this share of a key's rate limit (autoscaling may add more).
        env["RECGPT_GATEWAY_REPLICAS"] = str(process.scaling.replicas)
    if process.public:
        # The platform's face, the gateway, stores the first experiment config when Redis holds none.
        env["RECGPT_EXPERIMENTS_CONFIG_PATH"] = f"{objects.EXPERIMENTS_DIR}/{objects.EXPERIMENTS_FILE}"
    return env


def _env_from(process: Process) -> list[Manifest]:
    """Its Redis user's REDIS_URL first (external-redis swaps it), the shared settings, the LLM's."""
    user = deploy_secrets.redis_user(process)
    refs: list[Manifest] = []
    if user is not None:
        refs.append({"secretRef": {"name": objects.redis_secret(user)}})
    refs.append({"configMapRef": {"name": objects.SETTINGS_CONFIG}})
    if _calls_llm(process):
        refs += [
            {"configMapRef": {"name": objects.LLM_CONFIG}},
            {"secretRef": {"name": objects.LLM_KEY_SECRET}},
        ]
    return refs


def _tmp_volume() -> tuple[Manifest, Manifest]:
    return {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}, {"name": "tmp", "mountPath": "/tmp"}


def _var_volume(read_only: bool) -> tuple[Manifest, Manifest]:
    claim = {"claimName": objects.VAR_CLAIM, "readOnly": read_only}
    return (
        {"name": "var", "persistentVolumeClaim": claim},
        {"name": "var", "mountPath": container_layout.VAR, "readOnly": read_only},
    )


def _console_container(process: Process, table: Sequence[Process]) -> tuple[Manifest, list[Manifest]]:
    assert isinstance(process.command, ConsoleScript)
    volumes = [_tmp_volume(), _var_volume(read_only=True)]
    if process.checks_callers:
        volumes.append((
            {"name": "api-keys", "secret": {"secretName": objects.API_KEYS_SECRET}},
            {"name": "api-keys", "mountPath": objects.API_KEYS_DIR, "readOnly": True},
        ))  # fmt: skip
    if process.public:
        volumes.append((
            {"name": "experiments", "configMap": {"name": objects.EXPERIMENTS_CONFIG}},
            {"name": "experiments", "mountPath": objects.EXPERIMENTS_DIR, "readOnly": True},
        ))  # fmt: skip
    container = {
        "name": process.name,
        "image": objects.IMAGE,
        "command": [process.command.name, *process.command.args],
        "env": _env(_service_env(process, table)),
        "envFrom": _env_from(process),
        "volumeMounts": [mount for _, mount in volumes],
    }
    return container, [volume for volume, _ in volumes]


def _vllm_container(process: Process) -> tuple[Manifest, list[Manifest]]:
    assert process.port is not None
    engine = container_layout.vllm_engine_settings(process.port)
    volumes = [
        _tmp_volume(),
        _var_volume(read_only=True),
        ({"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}},
         {"name": "shm", "mountPath": "/dev/shm"}),
    ]  # fmt: skip
    container = {
        "name": process.name,
        "image": objects.IMAGE,
        "command": vllm_engine.vllm_command(engine, python="python"),
        "env": _env({"HOME": "/tmp", **vllm_engine.vllm_env(engine, {})}),
        "envFrom": [{"secretRef": {"name": objects.LLM_KEY_SECRET}}],
        "volumeMounts": [mount for _, mount in volumes],
    }
    return container, [volume for volume, _ in volumes]


def _redis_container(process: Process) -> tuple[Manifest, list[Manifest]]:
    command = container_layout.redis_command(
        redis_server.Durability.appendfsync, redis_server.DEFAULT_MAXMEMORY
    )
    volumes = [
        ({"name": "data", "persistentVolumeClaim": {"claimName": objects.REDIS_DATA_CLAIM}},
         {"name": "data", "mountPath": container_layout.REDIS_DATA}),
        ({"name": "acl", "secret": {"secretName": objects.REDIS_ACL_SECRET}},
         {"name": "acl", "mountPath": "/etc/redis", "readOnly": True}),
    ]  # fmt: skip
    container = {
        "name": process.name,
        "image": container_layout.REDIS_IMAGE,
        "command": command,
        "volumeMounts": [mount for _, mount in volumes],
    }
    return container, [volume for volume, _ in volumes]


def _container(process: Process, table: Sequence[Process]) -> tuple[Manifest, list[Manifest], int]:
    """The container, its pod's volumes and the user it runs as."""
    if isinstance(process.command, ConsoleScript):
        return (*_console_container(process, table), container_layout.PLATFORM_UID)
    if process.command is Engine.VLLM:
        return (*_vllm_container(process), container_layout.PLATFORM_UID)
    if process.command is Engine.REDIS:
        return (*_redis_container(process), container_layout.REDIS_UID)
    raise ValueError(f"{process.name}: {process.command} does not run in a cluster")


def deployment(process: Process, table: Sequence[Process]) -> Manifest:
    container, volumes, uid = _container(process, table)
    if ports(process):
        container["ports"] = ports(process)
    container["resources"] = resources(process)
    container["securityContext"] = container_security()
    container["lifecycle"] = {"preStop": {"sleep": {"seconds": registry.PRE_STOP_S}}}
    annotations: dict[str, str] = {}
    if isinstance(process.ready, registry.Running):
        annotations[objects.NO_PROBES_ANNOTATION] = "serves nothing to poll; an exit restarts it"
    else:
        container.update(probes(process))
    # A single Redis owns its volume: the old pod stops before the new one mounts it.
    strategy: Manifest = (
        {"type": "Recreate"}
        if process.command is Engine.REDIS
        else {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    )
    meta = objects.metadata(process.name)
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": process.scaling.replicas,
            "selector": {"matchLabels": objects.selector(process.name)},
            "strategy": strategy,
            "template": {
                "metadata": {"labels": objects.labels(process.name)},
                "spec": {
                    "serviceAccountName": process.name,
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": process.termination_grace_s,
                    "securityContext": pod_security(uid),
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def service_account(name: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": objects.metadata(name),
        "automountServiceAccountToken": False,
    }


def _service(name: str, process: Process, service_ports: list[Manifest], **spec: Any) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": objects.metadata(name),
        "spec": {"selector": objects.selector(process.name), "ports": service_ports, **spec},
    }


def services(process: Process) -> list[Manifest]:
    """ClusterIP for every port it has; headless for a gRPC one (round_robin over its pods); the public
    face's port alone behind a LoadBalancer."""
    found = [
        {"name": port["name"], "port": port["containerPort"], "targetPort": port["name"]}
        for port in ports(process)
    ]
    if not found:
        return []
    made = [_service(process.name, process, found, type="ClusterIP")]
    if process.grpc_service is not None:
        grpc = [port for port in found if port["name"] == "grpc"]
        made.append(_service(objects.headless(process), process, grpc, clusterIP="None"))
    if process.public:
        public = [{"name": "http", "port": 80, "targetPort": "http"}]
        made.append(_service(objects.public_service(process), process, public, type="LoadBalancer"))
    return made


def prepare_job() -> Manifest:
    """Imports the dataset into the shared volume and Redis (the key migration runs first), builds the
    index and converts the model; the services wait on its files through their startup probes."""
    volumes = [
        _tmp_volume(),
        _var_volume(read_only=False),
        ({"name": "dataset", "persistentVolumeClaim": {"claimName": objects.DATASET_CLAIM, "readOnly": True}},
         {"name": "dataset", "mountPath": container_layout.DATASET_DIR, "readOnly": True}),
    ]  # fmt: skip
    container = {
        "name": "prepare",
        "image": objects.IMAGE,
        "command": ["sh", "-c", container_layout.PREPARE_COMMAND],
        "env": _env({"HOME": "/tmp"}),
        "envFrom": [
            {"secretRef": {"name": objects.redis_secret(deploy_secrets.PREPARE)}},
            {"configMapRef": {"name": objects.SETTINGS_CONFIG}},
        ],
        "resources": {"requests": {"cpu": "1000m", "memory": "2048Mi"}, "limits": {"memory": "4096Mi"}},
        "securityContext": container_security(),
        "volumeMounts": [mount for _, mount in volumes],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": objects.metadata(objects.PREPARE_JOB),
        "spec": {
            "backoffLimit": 3,
            "template": {
                "metadata": {"labels": objects.labels(objects.PREPARE_JOB)},
                "spec": {
                    "serviceAccountName": objects.PREPARE_JOB,
                    "automountServiceAccountToken": False,
                    "restartPolicy": "OnFailure",
                    "securityContext": pod_security(container_layout.PLATFORM_UID),
                    "containers": [container],
                    "volumes": [volume for volume, _ in volumes],
                },
            },
        },
    }


def claims() -> list[Manifest]:
    """The shared data (many readers on many nodes: ReadWriteMany), the dataset, Redis's own disk."""
    sizes = [
        (objects.VAR_CLAIM, "ReadWriteMany", "20Gi"),
        (objects.DATASET_CLAIM, "ReadWriteMany", "5Gi"),
        (objects.REDIS_DATA_CLAIM, "ReadWriteOnce", "10Gi"),
    ]
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": objects.metadata(name),
            "spec": {"accessModes": [mode], "resources": {"requests": {"storage": size}}},
        }
        for name, mode, size in sizes
    ]


def namespace() -> Manifest:
    """The platform's namespace, held to the restricted Pod Security Standard."""
    enforce = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": objects.NAMESPACE, "labels": {objects.PART_OF_LABEL: "recgpt", **enforce}},
    }


def llm_settings(table: Sequence[Process]) -> dict[str, str]:
    """What every LLM caller is told: the in-cluster engine's URL (production-stack swaps in its router)."""
    engine = next(process for process in table if process.command is Engine.VLLM)
    return {
        "RECGPT_LLM_ENDPOINTS": f"http://{engine.name}:{engine.port}/v1",
        "RECGPT_LLM_MODEL": DEFAULT_MODEL_NAME,
        "RECGPT_LLM_AGENT_PRIORITIES": vllm_engine.AGENT_PRIORITIES,
    }
