"""docker-compose.yml starts each container once what it needs is healthy, bounds its memory, gives it the
registry's stop grace, and runs the engine on a CPU or on a reserved GPU by profile.

Checked structurally here; `docker compose config` also parses it where a compose client exists.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from nearline.settings import NearlineSettings
from recgpt_tools import deploy_files, registry

REPO_ROOT = Path(__file__).resolve().parents[2]


def _services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(deploy_files.compose())["services"]
    return services


def _health_problems(services: dict[str, Any]) -> list[str]:
    """A service waited on as healthy must have a healthcheck; a dependency must be a service."""
    problems = []
    for name, service in services.items():
        for needed, condition in service.get("depends_on", {}).items():
            if needed not in services:
                problems.append(f"{name} depends on {needed}, which is no service")
            elif condition["condition"] == "service_healthy" and "healthcheck" not in services[needed]:
                problems.append(f"{name} waits for {needed} to be healthy, which has no healthcheck")
    return problems


def test_every_wait_for_health_is_on_a_service_with_a_healthcheck() -> None:
    services = _services()
    assert _health_problems(services) == []
    del services["retrieval"]["healthcheck"]
    assert "gateway waits for retrieval to be healthy, which has no healthcheck" in _health_problems(services)


def test_every_long_running_container_of_ours_has_health_grace_and_limits() -> None:
    services = _services()
    for process in registry.PROCESSES:
        if process.command is registry.Engine.CACHE_REDIS:
            continue
        service = services[process.name]
        assert service["stop_grace_period"] == f"{process.termination_grace_s}s", process.name
        limits = service["deploy"]["resources"]["limits"]
        assert limits["memory"] == f"{process.resources.memory_limit_mib}M", process.name
        assert ("healthcheck" in service) == (not isinstance(process.ready, registry.Running)), process.name
    retrieval = services["retrieval"]["healthcheck"]["test"]
    assert retrieval[:4] == ["CMD", "python", "-m", "recgpt_tools.probe"]
    assert services["gateway"]["healthcheck"]["test"][-1].endswith(
        "'http://127.0.0.1:8080/readyz', timeout=3)"
    )
    assert services["gateway"]["depends_on"]["retrieval"] == {"condition": "service_healthy"}


def test_the_engine_runs_on_a_cpu_or_a_reserved_gpu_by_profile() -> None:
    services = _services()
    assert services["vllm"]["profiles"] == ["cpu"] and services["vllm-gpu"]["profiles"] == ["gpu"]
    gpu = services["vllm-gpu"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}
    ]
    assert gpu["networks"]["default"]["aliases"] == ["vllm"]  # the agents' URL is the same
    assert "--gpu-memory-utilization" in gpu["entrypoint"]
    for caller in ("intent", "tags", "explain", "judge", "nearline"):
        needs = services[caller]["depends_on"]
        assert needs["vllm"] == needs["vllm-gpu"] == {"condition": "service_healthy", "required": False}


def test_the_near_line_worker_serves_metrics_where_prometheus_reaches_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compose = yaml.safe_load(deploy_files.compose())
    assert compose["x-platform"]["environment"]["RECGPT_BIND_HOST"] == "0.0.0.0"
    for name, value in {"REDIS_URL": "redis://x:6379/0", "RECGPT_BIND_HOST": "0.0.0.0",
                        "RECGPT_RETRIEVAL_TARGET": "r:1", "RECGPT_INTENT_TARGET": "i:1",
                        "RECGPT_TAGS_TARGET": "t:1", "RECGPT_EXPLAIN_TARGET": "e:1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    assert NearlineSettings().bind_host == "0.0.0.0"
    monkeypatch.delenv("RECGPT_BIND_HOST")
    assert NearlineSettings().bind_host == "127.0.0.1"


def _compose_client() -> bool:
    docker = shutil.which("docker")
    return (
        docker is not None
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    )


@pytest.mark.skipif(not _compose_client(), reason="no docker compose client here: the structural tests stand")
def test_docker_compose_parses_the_file() -> None:
    result = subprocess.run(
        ["docker", "compose", "--profile", "cpu", "--profile", "gpu", "config", "--quiet"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
