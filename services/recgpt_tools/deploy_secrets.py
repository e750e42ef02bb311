"""The secrets docker compose reads from `deploy/secrets/` (never committed): `make deploy-files` makes those
that are absent and never replaces one, so that a running deployment keeps its passwords and keys.

    grafana.env        GF_SECURITY_ADMIN_PASSWORD
    llm.env            VLLM_API_KEY (vLLM then refuses /v1 calls without it) and RECGPT_LLM_API_KEY (the
                       agents send it), one random value
    redis-<user>.env   REDIS_URL with the password of that container's own Redis user
    redis-users.acl    Redis's users: the default one off, each other with its password's SHA-256, keys under
                       the platform's prefix only and no administrative commands
    api-keys.json      the gateway's keys file (a development and an admin key, secrets hashed)
    api-keys.txt       those two keys as callers present them, for the operator

Each file holding a secret is created with mode 0600. The ACL file holds only hashes of random passwords:
it is derived again from the env files on every run (so that a process added to the registry gets its
user) and left readable by all, as the redis container's own user must read it through the bind mount.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from pathlib import Path

from gateway.auth.keys import write_file
from recgpt_tools import registry, stack_auth
from recgpt_tools.registry import ConsoleScript, Process

SECRETS_DIR = Path("deploy/secrets")
GRAFANA_ENV = SECRETS_DIR / "grafana.env"
LLM_ENV = SECRETS_DIR / "llm.env"
REDIS_ACL = SECRETS_DIR / "redis-users.acl"
API_KEYS_JSON = SECRETS_DIR / "api-keys.json"
API_KEYS_TXT = SECRETS_DIR / "api-keys.txt"
# The one-shot container that imports the data and builds the index (deploy_files' `prepare`).
PREPARE = "prepare"
# Where Redis answers inside the compose network, and the prefix every container's keys share.
REDIS_HOST = "redis:6379"
REDIS_PREFIX = "recgpt"


def redis_user(process: Process) -> str | None:
    """The Redis user a container connects as: its own, for each of our processes; None for engines."""
    return process.name if isinstance(process.command, ConsoleScript) else None


def redis_users(table: Sequence[Process] = registry.PROCESSES) -> list[str]:
    return [PREPARE, *(user for process in table if (user := redis_user(process)))]


def redis_env(user: str) -> Path:
    return SECRETS_DIR / f"redis-{user}.env"


def _password() -> str:
    # URL-safe, so that it sits in REDIS_URL unescaped.
    return secrets.token_urlsafe(32)


def _env_text(values: dict[str, str]) -> str:
    return "".join(f"{name}={value}\n" for name, value in values.items())


def _read_env(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            values[name.strip()] = value.strip()
    return values


def _redis_password(env_file: Path, user: str) -> str:
    url = _read_env(env_file).get("REDIS_URL", "")
    prefix = f"redis://{user}:"
    password = url.removeprefix(prefix).partition("@")[0] if url.startswith(prefix) else ""
    if not password:
        problem = f"{env_file} holds no REDIS_URL for user {user}; remove it to make a new one"
        raise stack_auth.AuthError(problem)
    return password


def acl(passwords: dict[str, str]) -> str:
    """Redis's ACL file: each user on, with its password's SHA-256, its keys and the commands it may run."""
    # Redis refuses any line of an ACL file that is not a user, comments too.
    lines = ["user default off"]
    for user, password in passwords.items():
        digest = hashlib.sha256(password.encode()).hexdigest()
        lines.append(f"user {user} on #{digest} ~{REDIS_PREFIX}:* resetchannels +@all -@dangerous")
    return "\n".join(lines) + "\n"


def _create(path: Path, text: str, made: list[Path]) -> None:
    if not path.exists():
        stack_auth.write_private(path, text)
        made.append(path)


def _api_keys(root: Path, made: list[Path]) -> None:
    json_file, text_file = root / API_KEYS_JSON, root / API_KEYS_TXT
    present = [path for path in (json_file, text_file) if path.exists()]
    if len(present) == 2:
        return
    if present:
        raise stack_auth.AuthError(
            f"{present[0]} without its pair: remove it to make a new development and admin key"
        )
    keys = stack_auth.issue()
    stack_auth.write_private_with(json_file, lambda path: write_file(path, keys.records()))
    text = (
        f"# The gateway's API keys as callers present them ({API_KEYS_JSON} holds them hashed).\n"
        f"# RECGPT_API_KEY: every scope but admin. RECGPT_ADMIN_KEY: every scope, the operators' listener.\n"
        + _env_text({"RECGPT_API_KEY": keys.dev.presented, "RECGPT_ADMIN_KEY": keys.admin.presented})
    )
    stack_auth.write_private(text_file, text)
    made += [json_file, text_file]


def ensure(root: Path, table: Sequence[Process] = registry.PROCESSES) -> list[Path]:
    """Makes the secrets under `root` that are absent, and the ACL file from the Redis users' env files;
    returns the files written. Raises stack_auth.AuthError on a file it cannot read or write."""
    made: list[Path] = []
    _create(root / GRAFANA_ENV, _env_text({"GF_SECURITY_ADMIN_PASSWORD": _password()}), made)
    llm_key = _password()
    _create(root / LLM_ENV, _env_text({"VLLM_API_KEY": llm_key, "RECGPT_LLM_API_KEY": llm_key}), made)
    passwords: dict[str, str] = {}
    for user in redis_users(table):
        env_file = root / redis_env(user)
        _create(env_file, _env_text({"REDIS_URL": f"redis://{user}:{_password()}@{REDIS_HOST}/0"}), made)
        passwords[user] = _redis_password(env_file, user)
    _api_keys(root, made)
    acl_file, wanted = root / REDIS_ACL, acl(passwords)
    if not acl_file.exists() or acl_file.read_text() != wanted:
        acl_file.write_text(wanted)
        acl_file.chmod(0o644)
        made.append(acl_file)
    return made
