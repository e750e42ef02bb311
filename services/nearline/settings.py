"""The near-line job's settings, from the environment (`RECGPT_` prefix, `REDIS_URL`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from recgpt_domain.refresh_queue import DEFAULT_RETRY
from recgpt_serving.llm.models import DEFAULT_MODEL_NAME

FOURTEEN_DAYS_S = 14 * 24 * 3600


class NearlineSettings(BaseSettings):
    """Service addresses default to the fixed ports of the local platform."""

    model_config = SettingsConfigDict(
        env_prefix="RECGPT_", extra="ignore", frozen=True, populate_by_name=True, protected_namespaces=()
    )

    redis_url: str = Field(validation_alias="REDIS_URL")
    redis_prefix: str = "recgpt"
    log_level: str = "INFO"
    retrieval_target: str = "127.0.0.1:50051"
    intent_target: str = "127.0.0.1:50052"
    tags_target: str = "127.0.0.1:50053"
    explain_target: str = "127.0.0.1:50054"
    # The model a stored profile must name to count as fresh: the served model name, as in RECGPT_LLM_MODEL.
    llm_model: str = DEFAULT_MODEL_NAME
    # Users refreshed at once. Each user has one LLM call in flight at a time (interests, then tags, then
    # explanations), so 16 users keep about 16 sequences in vLLM: half of its default max_num_seqs (32),
    # leaving room for the calls that serving traffic and the other services run beside the job.
    concurrency: int = Field(default=16, ge=1, le=512)
    # Tag-route items per user whose explanations are precomputed (the gateway reads them cache-only).
    explain_items: int = Field(default=5, ge=0, le=50)
    # The tag route as the gateway runs it (same names and defaults as GatewaySettings), so that the items
    # explained here are the ones serving shows: tags searched, and items each tag may bring at most.
    tag_route_max_tags: int = Field(default=24, ge=1, le=64)
    tag_route_per_tag_k: int = Field(default=10, ge=1, le=500)
    # 0 leaves the count to the service's own default.
    max_interests: int = Field(default=0, ge=0)
    max_tags: int = Field(default=0, ge=0)
    # A stored profile younger than this (made by the current model and prompts) is not refreshed again:
    # the paper refreshes interests every two weeks.
    max_age_s: float = Field(default=FOURTEEN_DAYS_S, gt=0)
    # Deadline of each LLM-bound call (intent, tags, explain): generous, a CPU engine under load is slow.
    llm_call_deadline_s: float = Field(default=300.0, gt=0)
    retrieval_deadline_s: float = Field(default=10.0, gt=0)
    # --follow: Prometheus metrics port, and how long one poll of the refresh queue blocks.
    metrics_port: int = Field(default=9106, ge=0, le=65535)
    follow_poll_s: float = Field(default=1.0, gt=0)
    # --follow: the refresh queue's retry policy (recgpt_domain.refresh_queue.RetryPolicy says what each is).
    refresh_lease_s: float = Field(default=DEFAULT_RETRY.lease_s, gt=0)
    refresh_max_attempts: int = Field(default=DEFAULT_RETRY.max_attempts, ge=1, le=100)
    refresh_backoff_s: float = Field(default=DEFAULT_RETRY.backoff_s, ge=0)
    refresh_backoff_max_s: float = Field(default=DEFAULT_RETRY.backoff_max_s, ge=0)
    refresh_failed_cooldown_s: float = Field(default=DEFAULT_RETRY.failed_cooldown_s, ge=0)
    refresh_dead_letters_max: int = Field(default=DEFAULT_RETRY.dead_letters_max, ge=1)
    # Any one Redis command of the follower may take this long before it is abandoned and retried.
    redis_timeout_s: float = Field(default=5.0, gt=0)
