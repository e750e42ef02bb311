"""Settings shared by every service; each service extends one of these classes with its own fields."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# What a stopping process's in-flight requests get at least, and beyond its longest call.
MIN_GRACE_S = 5.0
GRACE_MARGIN_S = 1.0


class ServiceSettings(BaseSettings):
    """Read from the environment with the `RECGPT_` prefix, except `REDIS_URL`.

    Every process gets its own environment from the launcher, so `RECGPT_PORT` means that process's port.
    """

    model_config = SettingsConfigDict(
        env_prefix="RECGPT_", extra="ignore", frozen=True, populate_by_name=True
    )

    redis_url: str = Field(validation_alias="REDIS_URL")
    redis_prefix: str = "recgpt"
    # The caches' Redis (profiles, explanations: answers that can be computed again), bounded by eviction
    # apart from the state's; unset: REDIS_URL holds them (RECGPT_CACHE_REDIS_URL).
    cache_redis_url: str | None = None
    log_level: str = "INFO"
    bind_host: str = "127.0.0.1"
    port: int = Field(ge=0, le=65535)
    # After the first SIGTERM, seconds the process keeps serving with its probes failing (readiness 503, gRPC
    # health NOT_SERVING), so that Services, load balancers and clients take it out of rotation before it
    # stops accepting. Kubernetes' terminationGracePeriodSeconds must exceed this plus `stop_grace_s`.
    drain_s: float = Field(default=5.0, ge=0)
    # Seconds in-flight requests get to finish once it stops accepting. Unset: the longest call this process
    # may serve (`longest_call_s`) plus a margin; set, it must exceed that call.
    shutdown_grace_s: float | None = Field(default=None, ge=0)

    def longest_call_s(self) -> float:
        """The longest a request may take here, by the deadlines it calls with; services extend it."""
        return 0.0

    @property
    def stop_grace_s(self) -> float:
        if self.shutdown_grace_s is not None:
            return self.shutdown_grace_s
        return max(MIN_GRACE_S, self.longest_call_s() + GRACE_MARGIN_S)

    @model_validator(mode="after")
    def _grace_outlasts_the_longest_call(self) -> ServiceSettings:
        longest = self.longest_call_s()
        if self.shutdown_grace_s is not None and 0 < longest >= self.shutdown_grace_s:
            raise ValueError(
                f"shutdown_grace_s ({self.shutdown_grace_s:g}) must exceed the longest call this process "
                f"serves ({longest:g} s), or a rollout cuts such calls off; leave it unset to derive it"
            )
        return self


class GrpcServiceSettings(ServiceSettings):
    """A gRPC service also serves Prometheus metrics on a port of its own."""

    metrics_port: int = Field(ge=0, le=65535)
    # Calls served at once; beyond this a call is refused with RESOURCE_EXHAUSTED and its caller degrades.
    max_concurrent_rpcs: int = Field(default=128, ge=1)
    # A client connection is closed (GOAWAY, in-flight calls still finish) after this long, so that clients
    # resolve the service's name again and spread over replicas added since; 0: never.
    max_connection_age_s: float = Field(default=300.0, ge=0)
