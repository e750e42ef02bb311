"""Settings shared by every service; each service extends one of these classes with its own fields."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Read from the environment with the `RECGPT_` prefix, except `REDIS_URL`.

    Every process gets its own environment from the launcher, so `RECGPT_PORT` means that process's port.
    """

    model_config = SettingsConfigDict(
        env_prefix="RECGPT_", extra="ignore", frozen=True, populate_by_name=True
    )

    redis_url: str = Field(validation_alias="REDIS_URL")
    redis_prefix: str = "recgpt"
    log_level: str = "INFO"
    bind_host: str = "127.0.0.1"
    port: int = Field(ge=0, le=65535)
    # Seconds to let in-flight requests finish on SIGTERM.
    shutdown_grace_s: float = Field(default=5.0, ge=0)


class GrpcServiceSettings(ServiceSettings):
    """A gRPC service also serves Prometheus metrics on a port of its own."""

    metrics_port: int = Field(ge=0, le=65535)
    # Calls served at once; beyond this a call is refused with RESOURCE_EXHAUSTED and its caller degrades.
    max_concurrent_rpcs: int = Field(default=128, ge=1)
