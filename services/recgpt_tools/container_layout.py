"""Where things are inside the platform's containers, the same under docker compose and Kubernetes.

One image (deploy/docker/Dockerfile) runs every console script; the prepared data, models and index are on a
shared volume at `VAR`; Redis runs the official image on its standard port.
"""

from __future__ import annotations

from typing import Literal

from recgpt_serving.llm.models import DEFAULT_MODEL_NAME
from recgpt_tools import redis_server, registry, vllm_engine
from recgpt_tools.deploy_secrets import REDIS_PREFIX

VAR = "/var/recgpt"
DATA_DIRS: dict[registry.Data, str] = {"catalogue": f"{VAR}/catalogue", "index": f"{VAR}/index"}
MODEL_DIR = f"{VAR}/models/{DEFAULT_MODEL_NAME}"
# The dataset the one-shot import reads, mounted read-only.
DATASET_DIR = "/data"
# The gateway's keys file inside its container.
API_KEYS_FILE = "/etc/recgpt/api-keys.json"
# Cores the CPU engine's threads are bound to in its container.
VLLM_CPU_THREADS = "0-1"
# The CUDA build's image, the version of pyproject's `gpu` extra.
VLLM_CUDA_IMAGE = "vllm/vllm-openai:v0.33.0"
REDIS_IMAGE = "redis:7"
REDIS_PORT = 6379
REDIS_DATA = "/data"
REDIS_ACL_FILE = "/etc/redis/users.acl"
# The image's unprivileged user (the Dockerfile's USER) and the official Redis image's.
PLATFORM_UID = 10001
REDIS_UID = 999

# What every console script of the platform reads besides its own settings.
COMMON_ENV: dict[str, str] = {
    "RECGPT_REDIS_PREFIX": REDIS_PREFIX,
    "RECGPT_BIND_HOST": "0.0.0.0",
    "RECGPT_EMBEDDING_MODELS_DIR": f"{VAR}/models/embedding",
    "RECGPT_TOWERS_DIR": f"{VAR}/models/towers",
    # The entity tokens the agents load (`make train-adaptor`'s folder; on Kubernetes, the
    # `kubeflow-training` component points intent and tags at the copy they fetch from the artefact store).
    "RECGPT_ENTITY_DIR": f"{VAR}/models/entities",
}

# Imports the dataset (running the key migration first), builds the index and converts the served model.
PREPARE_COMMAND = (
    f"recgpt-import {DATASET_DIR} --out {DATA_DIRS['catalogue']} --skip-if-fresh && "
    f"recgpt-build-index --catalogue {DATA_DIRS['catalogue']} --index {DATA_DIRS['index']} && "
    f"recgpt-llm-model --out {MODEL_DIR}"
)


def redis_command(appendfsync: str, maxmemory: str) -> list[str]:
    """The Redis container's command: durable (AOF), bounded, its users from the ACL file."""
    return [
        "redis-server",
        *redis_server.durable_args(appendfsync, maxmemory),
        "--dir", REDIS_DATA,
        "--aclfile", REDIS_ACL_FILE,
    ]  # fmt: skip


def vllm_engine_settings(port: int, device: Literal["cpu", "cuda"] = "cpu") -> vllm_engine.EngineSettings:
    # model_construct: the engine's defaults, not whatever RECGPT_VLLM_* this machine happens to set.
    return vllm_engine.EngineSettings.model_construct(
        model=MODEL_DIR,
        served_model_name=DEFAULT_MODEL_NAME,
        device=device,
        host="0.0.0.0",
        port=port,
        cpu_threads_bind=VLLM_CPU_THREADS,
    )
