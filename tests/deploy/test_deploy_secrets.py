"""`make deploy-files` makes the secrets compose reads: private, made once, each one the compose file names,
and a Redis ACL that a real redis-server loads and enforces."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml  # type: ignore[import-untyped]
from redis.backoff import NoBackoff
from redis.retry import Retry

from gateway.auth.keys import Scope, load_file, split_presented
from recgpt_domain.catalogue import Interaction, UserHistory
from recgpt_domain.datasets import redis_loader
from recgpt_tools import deploy_files, deploy_secrets, redis_server, registry, stack_auth

SECRETS = Path("deploy/secrets")


def _env(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#")
    )
    return dict(pairs)


def _named_by_compose() -> set[Path]:
    """Every file under deploy/secrets/ that docker-compose.yml reads (env files and mounted files)."""
    services: dict[str, Any] = yaml.safe_load(deploy_files.compose())["services"]
    named: set[Path] = set()
    for service in services.values():
        named |= {Path(path) for path in service.get("env_file", [])}
        named |= {Path(volume.split(":")[0].removeprefix("./")) for volume in service.get("volumes", [])}
    return {path for path in named if path.parent == SECRETS}


def test_secrets_are_private_made_once_and_what_compose_reads(tmp_path: Path) -> None:
    made = deploy_secrets.ensure(tmp_path)
    files = {path.relative_to(tmp_path) for path in made}
    assert _named_by_compose() <= files
    assert {SECRETS / "api-keys.txt", SECRETS / "llm.env", SECRETS / "grafana.env"} <= files
    for path in made:
        # The ACL holds only hashes, and the redis container's own user must read it.
        mode = 0o644 if path.name == "redis-users.acl" else 0o600
        assert path.stat().st_mode & 0o777 == mode, path
    contents = {path: path.read_bytes() for path in made}
    assert deploy_secrets.ensure(tmp_path) == [], "present: nothing is written again"
    assert {path: path.read_bytes() for path in made} == contents
    llm = _env(tmp_path / SECRETS / "llm.env")
    assert llm["VLLM_API_KEY"] == llm["RECGPT_LLM_API_KEY"] and len(llm["VLLM_API_KEY"]) >= 40
    assert len(_env(tmp_path / SECRETS / "grafana.env")["GF_SECURITY_ADMIN_PASSWORD"]) >= 40


def test_the_gateways_keys_file_holds_the_hashes_of_the_keys_the_operator_is_given(tmp_path: Path) -> None:
    deploy_secrets.ensure(tmp_path)
    presented = _env(tmp_path / SECRETS / "api-keys.txt")
    keys = load_file(tmp_path / SECRETS / "api-keys.json")
    for name, scopes in (
        ("RECGPT_API_KEY", frozenset(Scope) - {Scope.ADMIN}),
        ("RECGPT_ADMIN_KEY", frozenset(Scope)),
    ):
        parts = split_presented(presented[name])
        assert parts is not None
        key = keys[parts[0]]
        assert key.matches(parts[1]) and key.scopes == scopes
        assert presented[name] not in (tmp_path / SECRETS / "api-keys.json").read_text()


def test_one_of_the_key_files_alone_is_refused_rather_than_replaced(tmp_path: Path) -> None:
    deploy_secrets.ensure(tmp_path)
    (tmp_path / SECRETS / "api-keys.txt").unlink()
    with pytest.raises(stack_auth.AuthError, match="without its pair"):
        deploy_secrets.ensure(tmp_path)


def test_a_new_process_gets_its_redis_user_and_the_others_keep_their_passwords(tmp_path: Path) -> None:
    deploy_secrets.ensure(tmp_path)
    before = _env(tmp_path / SECRETS / "redis-gateway.env")
    ranker = registry.Process(
        name="ranker",
        command=registry.ConsoleScript("recgpt-ranker"),
        ready=registry.HttpOk("/m"),
        metrics_port=1,
    )
    made = deploy_secrets.ensure(tmp_path, [*registry.PROCESSES, ranker])
    assert {path.name for path in made} == {"redis-ranker.env", "redis-users.acl"}
    assert _env(tmp_path / SECRETS / "redis-gateway.env") == before
    assert "user ranker on #" in (tmp_path / SECRETS / "redis-users.acl").read_text()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


@pytest.fixture
def acl_redis(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A redis-server started with the generated ACL file, as the compose file starts it."""
    deploy_secrets.ensure(tmp_path)
    port = redis_server.free_port()
    command = [
        *redis_server.command(port, tmp_path),
        "--aclfile",
        str(tmp_path / SECRETS / "redis-users.acl"),
    ]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        # Not redis_server.wait_ready: its anonymous PING is refused here, which is the point.
        deadline = time.monotonic() + 10
        while not _answers(port):
            assert process.poll() is None, f"redis-server refused the ACL file (exit {process.returncode})"
            assert time.monotonic() < deadline, "redis-server not ready in 10 s"
            time.sleep(0.05)
        yield tmp_path, port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_redis_lets_each_container_in_by_its_own_password_under_the_prefix_only(
    acl_redis: tuple[Path, int],
) -> None:
    root, port = acl_redis
    url = _env(root / SECRETS / "redis-gateway.env")["REDIS_URL"]
    assert url.startswith("redis://gateway:") and url.endswith("@redis:6379/0")
    client = redis.Redis.from_url(url.replace("@redis:6379", f"@127.0.0.1:{port}"))
    try:
        client.set("recgpt:auth:revision", 1)
        assert client.incr("recgpt:auth:revision") == 2
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.set("another:key", 1)
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.flushall()
    finally:
        client.close()
    # No retries: a refused login is final, and redis-py would otherwise back off and try again.
    once = Retry(NoBackoff(), 0)
    anonymous = redis.Redis(port=port, retry=once)
    wrong = redis.Redis.from_url(
        url.replace("@redis:6379", f"@127.0.0.1:{port}").replace("gateway:", "gateway:x"), retry=once
    )
    try:
        for client in (anonymous, wrong):
            with pytest.raises((redis.exceptions.AuthenticationError, redis.exceptions.AuthorizationError)):
                client.get("recgpt:auth:revision")
    finally:
        anonymous.close()
        wrong.close()


def test_the_restore_container_may_load_the_behaviour_under_its_own_user(
    acl_redis: tuple[Path, int],
) -> None:
    """`restore` loads the catalogue's behaviour again (a script, SCAN, RENAME) as its own Redis user."""
    root, port = acl_redis
    url = _env(root / SECRETS / "redis-restore.env")["REDIS_URL"]
    client = redis.Redis.from_url(url.replace("@redis:6379", f"@127.0.0.1:{port}"), decode_responses=True)
    history = UserHistory(user_id="u1", interactions=[Interaction(item_id="a")])
    try:
        loaded = redis_loader.load_histories(client, deploy_secrets.REDIS_PREFIX, [history], "fingerprint")
        assert (loaded.users, loaded.interactions) == (1, 1)
        assert redis_loader.loaded_fingerprint(client, deploy_secrets.REDIS_PREFIX) == "fingerprint"
    finally:
        client.close()
