"""The gateway's settings, from the environment (`RECGPT_` prefix, `REDIS_URL`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from recgpt_domain.ranking_settings import RankingSettings
from recgpt_domain.refresh_queue import DEFAULT_LIMITS
from recgpt_serving.settings import ServiceSettings


class GatewaySettings(ServiceSettings, RankingSettings):
    """Deadlines are sized so that a request answers within `request_deadline_s` even when a route hangs.

    How it ranks (routes' seeds, fusion weights, beta, the tag route) is `RankingSettings`, shared with the
    near-line job and the evaluation.
    """

    # host:port of the retrieval gRPC service.
    retrieval_target: str = Field(min_length=1)
    # Each retrieval call gets its own deadline, cut to what is left of the request's.
    retrieval_deadline_s: float = Field(default=0.1, gt=0)
    redis_deadline_s: float = Field(default=0.05, gt=0)
    request_deadline_s: float = Field(default=0.25, gt=0)
    # /readyz checks every dependency with this timeout.
    readiness_timeout_s: float = Field(default=0.5, gt=0)
    # Request bodies above this are refused with 413, whether or not they declare a Content-Length. The
    # default holds the largest body the published schema allows even with every character escaped
    # (16 context entries of 64 + 256 astral characters at 12 bytes each: about 62 KB), so that no valid
    # request is refused for its size.
    max_body_bytes: int = Field(default=64 * 1024, ge=256)
    # A request's headers: at most this many bytes, sent within this long (a slow client is refused with
    # 408, one with huge headers with 431), and its body within `body_timeout_s` of its headers.
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    header_timeout_s: float = Field(default=5.0, gt=0)
    body_timeout_s: float = Field(default=5.0, gt=0)
    # Candidates asked of each route: n * multiplier + margin, so that filtering still leaves n.
    candidate_multiplier: int = Field(default=2, ge=1, le=10)
    candidate_margin: int = Field(default=10, ge=0, le=200)
    # The last-resort page of popular items, answered when retrieval cannot be reached: its size, how
    # often it is refreshed while retrieval answers, how soon a failed refresh is tried again, and the
    # deadline of one refresh (in the background, never on a request's path).
    last_resort_items: int = Field(default=200, ge=1, le=500)
    last_resort_refresh_s: float = Field(default=60.0, gt=0)
    last_resort_retry_s: float = Field(default=1.0, gt=0)
    last_resort_timeout_s: float = Field(default=2.0, gt=0)

    # Variant recgpt-v1. host:port of the explain service; empty: answers carry no explanations.
    explain_target: str = ""
    # host:port of the judge service; empty: no live judging.
    judge_target: str = ""
    # Cached explanations only, so this is a Redis read behind a gRPC hop; cut to the request's deadline.
    explain_deadline_s: float = Field(default=0.03, gt=0)
    # Share of recgpt-v1 answers with explanations sent to the judge in the background (0 = off).
    judge_sample_share: float = Field(default=0.0, ge=0, le=1)
    # Live judge calls at once; a sample beyond this is skipped, never queued.
    judge_max_in_flight: int = Field(default=4, ge=1)
    # The judge runs the LLM: minutes on a CPU, never on the request's path.
    judge_deadline_s: float = Field(default=120.0, gt=0)
    # The refresh queue a profile miss writes to: at most this many entries (a miss beyond is counted as
    # queue_full), and how long the marker that keeps a user from being queued twice lives.
    refresh_queue_max_depth: int = Field(default=DEFAULT_LIMITS.max_depth, ge=1)
    refresh_marker_ttl_s: float = Field(default=DEFAULT_LIMITS.marker_ttl_s, gt=0)

    # Experiments off: no assignment and no exposure on /v1/recommend (the path as before experiments);
    # `make bench` compares the two.
    experiments_enabled: bool = True
    # Experiments. The YAML stored as the first config when Redis holds none (deploy/experiments.yaml).
    experiments_config_path: Path | None = None
    # How often the in-process config is compared with the one in Redis.
    experiments_refresh_s: float = Field(default=1.0, gt=0)
    # Exposures are written in batches this often, holding at most this many while Redis is away.
    exposure_flush_s: float = Field(default=0.1, gt=0)
    exposure_buffer_max: int = Field(default=50_000, ge=100)
    # A client event id is remembered this long: a retry within it is counted once.
    event_dedup_ttl_s: float = Field(default=7 * 86_400.0, gt=0)
    # Events are kept this long (the stream is trimmed hourly by each gateway); the config history keeps
    # this many revisions.
    event_retention_s: float = Field(default=90 * 86_400.0, gt=0)
    experiments_config_history_max: int = Field(default=1000, ge=10)
    # Reports computed at once (each reads two whole streams, in a worker thread); past it, a fast 503.
    report_max_concurrent: int = Field(default=2, ge=1, le=32)
    # The catalogue folder whose categories and histories measure novelty in reports; unset: no novelty.
    experiments_catalogue_dir: Path | None = None

    # RecBot's feed. host:port of the intent service (the command parser); empty: no /v1/feed/command.
    intent_target: str = ""
    # The parser may wait on the LLM for what rules leave; a command the rules resolve answers in ms.
    feed_parse_deadline_s: float = Field(default=10.0, gt=0)
    feed_plan_deadline_s: float = Field(default=1.0, gt=0)
    feed_redis_deadline_s: float = Field(default=0.2, gt=0)
    # Users whose last-seen preferences the gateway keeps for when Redis cannot give them in time.
    feed_known_users: int = Field(default=100_000, ge=0)

    # Who may call: "on" checks API keys (and user tokens where a key needs them); "off" lets every caller
    # do everything, for local experiments only (warned on every start).
    auth: Literal["on", "off"] = "on"
    # Keys given by file (JSON, secrets hashed), beside those in Redis; see gateway/auth/keys.py.
    api_keys_file: Path | None = None
    # Also read keys from Redis (created by `recgpt-stack keys` and the admin API); False: the file only.
    api_keys_in_redis: bool = True
    # How often the key store's revision is polled: a revoked key is refused by every replica within this.
    api_keys_refresh_s: float = Field(default=1.0, gt=0, le=4)
    # Replicas behind the load balancer: each enforces this share of a key's rate limit.
    gateway_replicas: int = Field(default=1, ge=1, le=1000)
    # End-user tokens (X-User-Token): an HS256 secret and/or a JWKS URL (RS256/ES256), the claims they must
    # carry, and the clock skew allowed on exp/nbf/iat.
    user_token_secret: SecretStr = SecretStr("")
    user_token_jwks_url: str = ""
    user_token_audience: str = Field(default="recgpt-gateway", min_length=1)
    user_token_issuer: str = Field(default="recgpt-dev", min_length=1)
    user_token_leeway_s: float = Field(default=30.0, ge=0, le=300)

    # The operators' listener: /metrics, /docs of everything, the admin API, experiment reports.
    internal_port: int = Field(default=8081, ge=0, le=65535)
    internal_bind_host: str = "127.0.0.1"
    # Admission control on the public listener: requests served at once, and how long one may wait for a
    # slot (from when it reached the app) before a fast 503. Sized by Little's law: a process answers a few
    # hundred requests/s at 5-10 ms each (docs/results), so a handful in flight keep it busy; more only
    # queue inside it, and every answer's latency grows with that queue. The feed's command, which may wait
    # seconds on the LLM, has slots of its own. While the event loop runs later than `overload_lag_s`,
    # new requests are refused at once.
    max_in_flight: int = Field(default=4, ge=1)
    feed_command_max_in_flight: int = Field(default=16, ge=1)
    queue_deadline_s: float = Field(default=0.01, gt=0)
    overload_lag_s: float = Field(default=0.05, gt=0)

    def longest_call_s(self) -> float:
        """The feed's command: two preference-memory round trips, the parse (which may wait on the LLM)
        and the plan. Every other request answers within `request_deadline_s`."""
        feed_command = self.feed_parse_deadline_s + self.feed_plan_deadline_s + 2 * self.feed_redis_deadline_s
        return max(self.request_deadline_s, feed_command)

    @model_validator(mode="after")
    def _deadlines_fit(self) -> GatewaySettings:
        if self.retrieval_deadline_s > self.request_deadline_s:
            raise ValueError("retrieval_deadline_s must not exceed request_deadline_s")
        if self.internal_port == self.port != 0:
            raise ValueError("internal_port must differ from port")
        return self
