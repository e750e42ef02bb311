"""What `recgpt-stack up` started and where (`<var>/run/stack.json`): one typed record, written once per
start and read by every tool that joins a running platform: the benchmarks, and through `recgpt-stack exec`
(which hands its addresses over as the environment) the near-line job and the evaluations. It names where
the platform's API keys are, never the keys themselves."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from recgpt_tools import stack_auth

FILE_NAME = "stack.json"


class RunStateError(ValueError):
    """The state file is missing or is not a run state; the message says which and where."""


class RunState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    redis_url: str
    redis_prefix: str
    # The caches' Redis (profiles, explanations); None: `redis_url` holds them.
    cache_redis_url: str | None = None
    catalogue_dir: Path
    # HTTP root of each process serving HTTP on its port (the gateway, vLLM), by process name; the operators'
    # listener of a process as "<name>-internal" (the gateway's admin API, reports and metrics).
    urls: dict[str, str]
    # host:port of each gRPC service, by process name.
    targets: dict[str, str]
    # The Prometheus endpoint of each process that exports metrics, by process name.
    metrics_urls: dict[str, str]
    # The development and admin API keys (`recgpt-stack up` makes them); None: the platform checks no keys.
    keys_file: Path | None = None

    @property
    def gateway_url(self) -> str:
        return self.urls["gateway"]

    @property
    def vllm_url(self) -> str | None:
        """None when the platform runs without the LLM."""
        return self.urls.get("vllm")

    def client_env(self) -> dict[str, str]:
        """The platform's addresses as the environment its clients' settings read (`recgpt-stack exec`):
        Redis (and the caches' Redis when apart), the catalogue, `RECGPT_<NAME>_TARGET` per gRPC service,
        `RECGPT_<NAME>_URL` per HTTP root (`RECGPT_GATEWAY_INTERNAL_URL` for the operators' listener), and
        the API keys read from their file: `RECGPT_API_KEY` (development) and `RECGPT_ADMIN_KEY`. Raises
        RunStateError when that file is unreadable."""
        env = {
            "REDIS_URL": self.redis_url,
            "RECGPT_REDIS_PREFIX": self.redis_prefix,
            "RECGPT_CATALOGUE_DIR": str(self.catalogue_dir),
        }
        if self.cache_redis_url is not None:
            env["RECGPT_CACHE_REDIS_URL"] = self.cache_redis_url
        env |= {f"RECGPT_{_env_name(name)}_TARGET": target for name, target in self.targets.items()}
        env |= {f"RECGPT_{_env_name(name)}_URL": url for name, url in self.urls.items()}
        if self.keys_file is not None:
            try:
                keys = stack_auth.load_keys(self.keys_file)
            except stack_auth.AuthError as error:
                raise RunStateError(str(error)) from None
            env |= {"RECGPT_API_KEY": keys.dev.presented, "RECGPT_ADMIN_KEY": keys.admin.presented}
        return env


def _env_name(process: str) -> str:
    return process.upper().replace("-", "_")


def write(path: Path, state: RunState) -> None:
    """Replaces `path` in one step: a reader sees the old state or the new one, never half of either."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as file:
        file.write(state.model_dump_json(indent=2) + "\n")
        temporary = Path(file.name)
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def read(path: Path) -> RunState:
    try:
        text = path.read_text()
    except OSError as error:
        raise RunStateError(f"cannot read {path}: {error.strerror} (is the platform up?)") from None
    try:
        return RunState.model_validate_json(text)
    except ValidationError as error:
        raise RunStateError(f"{path} is not a run state of this version ({error})") from None
