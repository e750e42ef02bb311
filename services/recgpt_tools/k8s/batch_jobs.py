"""The platform's batch work on a cluster's batch operators, as two kustomize components.

- ray-nearline: the near-line refresh (`nearline.ray_pipeline`) as a KubeRay RayJob: a Ray cluster made for
  the run (a head that schedules, workers whose actors call the agents' services) and removed after it.
- kubeflow-training: Kubeflow Trainer (v2, `trainer.kubeflow.org/v1alpha1`) TrainJobs on the cluster's
  `torch-distributed` ClusterTrainingRuntime: the retrieval towers (torchrun DDP over nodes, as
  `make train-retrieval NPROC=...` on one machine), the agents' LoRA SFT and GRPO, and the entity tokens
  (`make train-adaptor`). Each publishes what it trained to the artefact store (RECGPT_ARTEFACT_STORE_URL,
  recgpt_domain.artefact_store). The component also points retrieval at that store, so new towers serve
  without a restart; has intent and tags fetch the newest entity tokens before they start (they load them
  once, at start); and lets the engine take prompt embeddings, as `make run` does once entity tokens exist.

Both run the image built with the extras they need (`docker build --build-arg EXTRAS=cpu,ray,s3`), not the
serving image. Each render function has the signature of `recgpt_tools.k8s.components.Component.render`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recgpt_tools import container_layout, deploy_secrets, registry, vllm_engine
from recgpt_tools.k8s import objects, workloads
from recgpt_tools.k8s.objects import Manifest
from recgpt_tools.registry import Engine, Process

Files = dict[str, str]

# The image with the `ray` and object-store extras; a cluster overlay renames it like the serving image.
JOBS_IMAGE = "recgpt-platform-jobs:latest"
RAY_VERSION = "2.60.0"
# The artefact store's URL, for the jobs that publish and for retrieval that fetches; an overlay sets it.
ARTEFACT_STORE_CONFIG = "recgpt-artefact-store"
ARTEFACT_STORE_URL = "s3://recgpt-artefacts/recgpt"
# Kubeflow Trainer's default PyTorch runtime: torchrun on every node, PET_* set for it.
TORCH_RUNTIME = "torch-distributed"
# Where the jobs' containers find the dataset, the served model folder, and room to write.
DATASET_DIR = "/data"
TOWERS_CACHE = "/tmp/towers"
JOBS_UID = 10001
# The agents whose prompts name items by entity tokens (the planner's and the arbiter's behaviour).
ENTITY_AGENTS = ("intent", "tags")
# Their copy of the newest entity tokens: a volume of its own, sized for the catalogue (a vector of the
# LLM's width per item: 2.3 KB at SmolLM2-135M's 576, so 10 MB for 4,385 items, 2.3 GB for a million).
ENTITY_CACHE = "/var/cache/recgpt/entities"
ENTITY_CACHE_SIZE = "2Gi"
ENTITY_FETCH = "fetch-entities"


def _kustomization(summary: str, **fields: Any) -> str:
    body = {"apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component", **fields}
    return f"# {summary}\n" + objects.to_yaml(body)


def _metadata(name: str) -> Manifest:
    """In the platform's namespace: the base's namespace does not reach a component's own objects."""
    return {**objects.metadata(name), "namespace": objects.NAMESPACE}


def _store_env() -> list[Manifest]:
    return [
        {
            "name": "RECGPT_ARTEFACT_STORE_URL",
            "valueFrom": {
                "configMapKeyRef": {"name": ARTEFACT_STORE_CONFIG, "key": "RECGPT_ARTEFACT_STORE_URL"}
            },
        }
    ]


def _scratch_volumes() -> tuple[list[Manifest], list[Manifest]]:
    """A writable /tmp (the root filesystem is read-only) and shared memory for Ray's object store."""
    volumes = [
        {"name": "tmp", "emptyDir": {"sizeLimit": "4Gi"}},
        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}},
    ]
    mounts = [{"name": "tmp", "mountPath": "/tmp"}, {"name": "shm", "mountPath": "/dev/shm"}]
    return volumes, mounts


# -- ray-nearline -------------------------------------------------------------------------------------


def _nearline_env(nearline: Process, table: Sequence[Process]) -> list[Manifest]:
    env = {
        f"RECGPT_{name.upper()}_TARGET": objects.grpc_target(registry.by_name(name, table))
        for name in nearline.targets
    }
    env["HOME"] = "/tmp"
    return [{"name": name, "value": value} for name, value in env.items()]


def _nearline_env_from(nearline: Process) -> list[Manifest]:
    """The near-line worker's Redis user and the shared settings: the job writes what the worker writes."""
    refs: list[Manifest] = []
    user = deploy_secrets.redis_user(nearline)
    if user is not None:
        refs.append({"secretRef": {"name": objects.redis_secret(user)}})
    refs.append({"configMapRef": {"name": objects.SETTINGS_CONFIG}})
    return refs


def _ray_pod(name: str, nearline: Process, table: Sequence[Process], cpu: str, memory: str) -> Manifest:
    volumes, mounts = _scratch_volumes()
    container = {
        "name": name,
        "image": JOBS_IMAGE,
        "env": _nearline_env(nearline, table),
        "envFrom": _nearline_env_from(nearline),
        "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}},
        "securityContext": workloads.container_security(),
        "volumeMounts": mounts,
    }
    return {
        "metadata": {"labels": objects.labels("nearline-refresh")},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": workloads.pod_security(JOBS_UID),
            "containers": [container],
            "volumes": volumes,
        },
    }


def ray_nearline(table: Sequence[Process], root: Path) -> Files:
    """A RayJob refreshing every user's profile through the agents' services, then removing its cluster."""
    nearline = registry.by_name("nearline", table)
    job = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": _metadata("nearline-refresh"),
        "spec": {
            "entrypoint": "python -m nearline.ray_pipeline --actors 8 --batch-size 16",
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": 600,
            "activeDeadlineSeconds": 6 * 3600,
            "rayClusterSpec": {
                "rayVersion": RAY_VERSION,
                "headGroupSpec": {
                    # The head only schedules and runs the driver: no actor is placed on it.
                    "rayStartParams": {"num-cpus": "0"},
                    "template": _ray_pod("ray-head", nearline, table, "1000m", "2Gi"),
                },
                "workerGroupSpecs": [
                    {
                        "groupName": "refresh",
                        "replicas": 2,
                        "minReplicas": 1,
                        "maxReplicas": 8,
                        "rayStartParams": {},
                        "template": _ray_pod("ray-worker", nearline, table, "1000m", "2Gi"),
                    }
                ],
            },
        },
    }
    summary = (
        "The near-line refresh as a KubeRay RayJob (nearline.ray_pipeline): needs the KubeRay operator and "
        f"the jobs image ({JOBS_IMAGE}, EXTRAS=cpu,ray)."
    )
    return {
        "kustomization.yaml": _kustomization(summary, resources=["rayjob.yaml"]),
        "rayjob.yaml": objects.to_yaml(job),
    }


# -- kubeflow-training --------------------------------------------------------------------------------


def _node_patch() -> Manifest:
    """The runtime's `node` pods get the dataset, the served model folder (read-only) and scratch room."""
    volumes, mounts = _scratch_volumes()
    volumes = [
        *volumes,
        {"name": "dataset", "persistentVolumeClaim": {"claimName": objects.DATASET_CLAIM, "readOnly": True}},
        {"name": "var", "persistentVolumeClaim": {"claimName": objects.VAR_CLAIM, "readOnly": True}},
    ]
    mounts = [
        *mounts,
        {"name": "dataset", "mountPath": DATASET_DIR, "readOnly": True},
        {"name": "var", "mountPath": container_layout.VAR, "readOnly": True},
    ]
    pod = {
        "securityContext": workloads.pod_security(JOBS_UID),
        "containers": [
            {"name": "node", "volumeMounts": mounts, "securityContext": workloads.container_security()}
        ],
        "volumes": volumes,
    }
    return {
        "manager": "recgpt.io/deploy",
        "trainingRuntimeSpec": {
            "template": {
                "spec": {
                    "replicatedJobs": [{"name": "node", "template": {"spec": {"template": {"spec": pod}}}}]
                }
            }
        },
    }


def _train_job(
    name: str, script: str, nodes: int, cpu: str, memory: str, env: dict[str, str] | None = None
) -> Manifest:
    return {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": _metadata(name),
        "spec": {
            "runtimeRef": {"name": TORCH_RUNTIME, "kind": "ClusterTrainingRuntime"},
            "trainer": {
                "image": JOBS_IMAGE,
                # torchrun takes the node count, rank and rendezvous from the runtime's PET_* variables.
                "command": ["sh", "-c", script],
                "numNodes": nodes,
                "resourcesPerNode": {
                    "requests": {"cpu": cpu, "memory": memory},
                    "limits": {"memory": memory},
                },
                "env": [
                    *_store_env(),
                    {"name": "HOME", "value": "/tmp"},
                    {"name": "HF_HUB_OFFLINE", "value": "1"},
                    *({"name": key, "value": value} for key, value in (env or {}).items()),
                ],
            },
            "runtimePatches": [_node_patch()],
        },
    }


def _agent_script(command: str, agent: str) -> str:
    """Imports the dataset for training (as `make train-data`), then trains and publishes one adapter."""
    catalogue = "/tmp/train/catalogue"
    model = f"{container_layout.VAR}/models/smollm2-135m-instruct"
    return (
        f"recgpt-import {DATASET_DIR} --out {catalogue} --no-redis && "
        f"torchrun -m agent_training.cli {command} --agent {agent} --catalogue {catalogue} "
        f"--model-dir {model} --adapters-dir /tmp/adapters"
    )


def _entity_script() -> str:
    """Trains the entity tokens on the served catalogue (their manifest names its items, which the agents
    check) against the served model folder, then publishes the version it wrote (`LATEST` names it)."""
    models = "/tmp/entities"
    return (
        f"python -m agent_training.entity_cli --catalogue {container_layout.DATA_DIRS['catalogue']} "
        f"--model {container_layout.MODEL_DIR} --out {models} --threads 4 && "
        f"read -r version < {models}/LATEST && "
        f"python -m recgpt_tools.artefact_sync publish entities {models}/$version"
    )


def _store_reader_labels() -> Manifest:
    """The pod template's mark as the store's reader (the network policies let it reach the store)."""
    return {"labels": {objects.ARTEFACT_STORE_LABEL: objects.ARTEFACT_STORE_CLIENT}}


def _retrieval_fetches_towers() -> Manifest:
    """Retrieval fetches the newest towers from the store into a writable cache (its var is read-only)."""
    patch = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "retrieval"},
        "spec": {
            "template": {
                "metadata": _store_reader_labels(),
                "spec": {
                    "containers": [
                        {
                            "name": "retrieval",
                            "env": [*_store_env(), {"name": "RECGPT_TOWERS_DIR", "value": TOWERS_CACHE}],
                        }
                    ]
                },
            }
        },
    }
    return {"patch": objects.to_yaml(patch)}


def _agent_fetches_entities(agent: str) -> Manifest:
    """An init container copies the newest entity tokens from the store into a volume of the pod's own, and
    the agent loads them from there, once, at start. None published, or a store it cannot read (logged by
    the init container): the agent starts without them, its prompts name items by text, and the requests
    that wanted them are counted (`no_table`), as retrieval serves on when it cannot fetch the towers. A
    version made for another catalogue or model is fetched, and refused by the agent when it loads it."""
    mounts = [{"name": "tmp", "mountPath": "/tmp"}, {"name": "entities", "mountPath": ENTITY_CACHE}]
    fetch = {
        "name": ENTITY_FETCH,
        "image": objects.IMAGE,
        "command": [
            "python",
            "-m",
            "recgpt_tools.artefact_sync",
            "fetch",
            "entities",
            "--into",
            ENTITY_CACHE,
            "--best-effort",
        ],
        "env": [*_store_env(), {"name": "HOME", "value": "/tmp"}],
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": workloads.container_security(),
        "volumeMounts": mounts,
    }
    patch = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": agent},
        "spec": {
            "template": {
                "metadata": _store_reader_labels(),
                "spec": {
                    "initContainers": [fetch],
                    "containers": [
                        {
                            "name": agent,
                            "env": [{"name": "RECGPT_ENTITY_DIR", "value": ENTITY_CACHE}],
                            "volumeMounts": [mounts[1]],
                        }
                    ],
                    "volumes": [{"name": "entities", "emptyDir": {"sizeLimit": ENTITY_CACHE_SIZE}}],
                },
            }
        },
    }
    return {"patch": objects.to_yaml(patch)}


def _engine_takes_prompt_embeds(table: Sequence[Process]) -> Manifest:
    """The engine's flag as the container's `args`, which Kubernetes appends to its command: so it holds
    whatever command the engine runs (`gpu-engines` replaces it), and matches nothing where
    `production-stack` removes the engine (its values take the flag from entity-tokens.yaml)."""
    engine = next(process for process in table if process.command is Engine.VLLM)
    operation = {
        "op": "add",
        "path": "/spec/template/spec/containers/0/args",
        "value": [vllm_engine.PROMPT_EMBEDS_FLAG],
    }
    return {"target": {"kind": "Deployment", "name": engine.name}, "patch": objects.to_yaml([operation])}


def kubeflow_training(table: Sequence[Process], root: Path) -> Files:
    """TrainJobs for the towers, the agents' adapters and the entity tokens, publishing to the artefact
    store; retrieval and the entity tokens' agents read from it, and the engine takes prompt embeddings."""
    towers = (
        f"torchrun -m towers.train_cli {DATASET_DIR} --models-dir /tmp/towers --cache-dir /tmp/text-cache "
        "--seeds 0,1,2"
    )
    jobs = [
        _train_job("train-retrieval", towers, nodes=2, cpu="4000m", memory="8Gi"),
        _train_job("train-sft-tags", _agent_script("sft", "tags"), nodes=1, cpu="4000m", memory="16Gi"),
        _train_job("train-grpo-tags", _agent_script("grpo", "tags"), nodes=1, cpu="4000m", memory="16Gi"),
        # One process: the LLM stays frozen, and the adaptor is small.
        _train_job(
            "train-entities",
            _entity_script(),
            nodes=1,
            cpu="4000m",
            memory="8Gi",
            env={"RECGPT_EMBEDDING_MODELS_DIR": container_layout.COMMON_ENV["RECGPT_EMBEDDING_MODELS_DIR"]},
        ),
    ]
    summary = (
        f"Kubeflow Trainer TrainJobs on the {TORCH_RUNTIME} runtime (towers DDP, agents' SFT and GRPO, "
        f"entity tokens), publishing to the artefact store ({ARTEFACT_STORE_CONFIG}); retrieval fetches "
        "towers from it, intent and tags the entity tokens, and the engine takes prompt embeddings."
    )
    kustomization = _kustomization(
        summary,
        resources=["trainjobs.yaml"],
        configMapGenerator=[
            {
                "name": ARTEFACT_STORE_CONFIG,
                "namespace": objects.NAMESPACE,
                "literals": [f"RECGPT_ARTEFACT_STORE_URL={ARTEFACT_STORE_URL}"],
                # Read by name from TrainJobs, which kustomize does not rewrite for a hashed name.
                "options": {"disableNameSuffixHash": True},
            }
        ],
        patches=[
            _retrieval_fetches_towers(),
            *(_agent_fetches_entities(registry.by_name(agent, table).name) for agent in ENTITY_AGENTS),
            _engine_takes_prompt_embeds(table),
        ],
    )
    return {"kustomization.yaml": kustomization, "trainjobs.yaml": objects.to_yaml(*jobs)}
