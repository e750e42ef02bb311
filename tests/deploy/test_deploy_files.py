"""docker-compose.yml and the Prometheus configs are what the process registry generates, nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from recgpt_tools import deploy_files, registry, vllm_engine

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_files_are_what_the_registry_generates() -> None:
    stale = deploy_files.stale(REPO_ROOT)
    assert not stale, f"stale: {[str(p) for p in stale]}; run `python -m recgpt_tools.deploy_files`"


def test_check_fails_on_a_hand_edit(tmp_path: Path) -> None:
    for path, text in deploy_files.generated().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert deploy_files.main(["--check", "--root", str(tmp_path)]) == 0
    edited = tmp_path / deploy_files.PROMETHEUS_FILE
    edited.write_text(edited.read_text().replace("127.0.0.1:9101", "127.0.0.1:9999"))
    manifest = tmp_path / "deploy/k8s/base/gateway.yaml"
    manifest.write_text(manifest.read_text().replace("replicas: 2", "replicas: 3"))
    # A file the registry no longer generates (a process renamed away) is stale too.
    leftover = tmp_path / "deploy/k8s/base/ranker.yaml"
    leftover.write_text("kind: Deployment\n")
    assert deploy_files.main(["--check", "--root", str(tmp_path)]) == 1
    assert set(deploy_files.stale(tmp_path)) == {
        deploy_files.PROMETHEUS_FILE,
        Path("deploy/k8s/base/gateway.yaml"),
        Path("deploy/k8s/base/ranker.yaml"),
    }
    assert deploy_files.main(["--root", str(tmp_path)]) == 0
    assert deploy_files.stale(tmp_path) == []
    assert not leftover.exists()


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(deploy_files.compose())
    return loaded


def test_compose_runs_every_process_with_the_engine_command_of_the_launcher() -> None:
    services = _compose()["services"]
    # Compose's one Redis holds the caches too: the launcher's cache Redis has no container of its own.
    ours = {p.name for p in registry.PROCESSES} - {"cache-redis"}
    assert set(services) == ours | {"prepare", "prometheus", "grafana", "vllm-gpu"}
    engine = vllm_engine.EngineSettings.model_construct(
        model="/var/recgpt/models/smollm2-135m-instruct",
        host="0.0.0.0",
        port=registry.default_port("vllm"),
        cpu_threads_bind="0-1",
    )
    assert services["vllm"]["command"] == vllm_engine.vllm_command(engine, python="python")
    gateway = services["gateway"]
    assert gateway["environment"]["RECGPT_RETRIEVAL_TARGET"] == "retrieval:50051"
    assert services["intent"]["depends_on"]["vllm"] == {"condition": "service_healthy", "required": False}


def test_only_the_gateways_public_port_is_open_to_every_interface() -> None:
    services = _compose()["services"]
    published = {name: service.get("ports", []) for name, service in services.items()}
    assert published["gateway"] == ["8080:8080", "127.0.0.1:8081:8081"]
    assert published["prometheus"] == ["127.0.0.1:9090:9090"]
    assert published["grafana"] == ["127.0.0.1:3000:3000"]
    everywhere = [(name, port) for name, ports in published.items() for port in ports if port.count(":") == 1]
    assert everywhere == [("gateway", "8080:8080")]
    # Prometheus, in its own container, scrapes the operators' listener.
    gateway = services["gateway"]["environment"]
    assert (gateway["RECGPT_INTERNAL_PORT"], gateway["RECGPT_INTERNAL_BIND_HOST"]) == ("8081", "0.0.0.0")


def test_every_container_reads_its_secrets_from_files_the_compose_file_only_names() -> None:
    """Redis with a user per container and no default user; the engine's key on both sides; the gateway's
    keys file mounted read-only; nothing secret in the compose file itself."""
    services = _compose()["services"]
    assert "/etc/redis/users.acl" in services["redis"]["command"]
    assert "./deploy/secrets/redis-users.acl:/etc/redis/users.acl:ro" in services["redis"]["volumes"]
    ours = {p.name for p in registry.PROCESSES if isinstance(p.command, registry.ConsoleScript)}
    for name, service in services.items():
        assert "REDIS_URL" not in service.get("environment", {}), name
        if name in ours | {"prepare"}:
            assert f"deploy/secrets/redis-{name}.env" in service["env_file"], name
    assert services["vllm"]["env_file"] == ["deploy/secrets/llm.env"]
    assert "deploy/secrets/llm.env" in services["explain"]["env_file"]
    assert "deploy/secrets/llm.env" not in services["gateway"]["env_file"]
    assert services["grafana"]["env_file"] == ["deploy/secrets/grafana.env"]
    gateway = services["gateway"]
    assert gateway["environment"]["RECGPT_API_KEYS_FILE"] == "/etc/recgpt/api-keys.json"
    assert "./deploy/secrets/api-keys.json:/etc/recgpt/api-keys.json:ro" in gateway["volumes"]


def test_prometheus_scrapes_every_process_that_exports_metrics() -> None:
    for text, host in ((deploy_files.prometheus(), None), (deploy_files.prometheus_compose(), "name")):
        jobs = {
            job["job_name"]: job["static_configs"][0]["targets"]
            for job in yaml.safe_load(text)["scrape_configs"]
        }
        assert set(jobs) == {"vllm", "retrieval", "intent", "tags", "explain", "judge", "nearline", "gateway"}
        assert jobs["nearline"] == [f"{'nearline' if host else '127.0.0.1'}:9106"]
        # The gateway's metrics answer on its operators' listener only.
        assert jobs["gateway"] == [f"{'gateway' if host else '127.0.0.1'}:8081"]


def _flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_redis_keeps_its_data_on_a_volume_and_every_long_running_container_restarts() -> None:
    compose = _compose()
    services = compose["services"]
    redis = services["redis"]
    command = redis["command"]
    assert _flag(command, "--appendonly") == "yes"
    assert _flag(command, "--appendfsync") == "${RECGPT_REDIS_APPENDFSYNC:-everysec}"
    assert _flag(command, "--maxmemory") == "${RECGPT_REDIS_MAXMEMORY:-1gb}"
    assert _flag(command, "--maxmemory-policy") == "noeviction"
    assert _flag(command, "--dir") == "/data" and "redis-data:/data" in redis["volumes"]
    assert "redis-data" in compose["volumes"]
    restarts = {name: service.get("restart") for name, service in services.items()}
    assert restarts.pop("prepare") is None, "the one-shot import must not run again"
    assert set(restarts.values()) == {"unless-stopped"}
    # Should Redis come back without the behaviour, `restore` loads the catalogue `prepare` wrote.
    restore = services["restore"]
    assert restore["command"] == ["recgpt-import", "--follow"]
    assert restore["depends_on"] == {
        "redis": {"condition": "service_healthy"},
        "prepare": {"condition": "service_completed_successfully"},
    }
    assert restore["environment"]["RECGPT_CATALOGUE_DIR"] == "/var/recgpt/catalogue"
