"""The near-line job's settings, from the environment (`RECGPT_` prefix, `REDIS_URL`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from recgpt_domain.profile_store import FALLBACK_PROFILE_TTL_S, LLM_PROFILE_MAX_AGE_S
from recgpt_domain.prompt_versions import DEFAULT_TAG_MODE, TagMode
from recgpt_domain.ranking_settings import RankingSettings
from recgpt_domain.refresh_queue import DEFAULT_RETRY
from recgpt_serving.llm.batch import BATCH_CONCURRENCY, BATCH_LLM_DEADLINE_S
from recgpt_serving.llm.models import DEFAULT_MODEL_NAME


class NearlineSettings(RankingSettings):
    """The services it calls are required (`RECGPT_<NAME>_TARGET`): the launcher sets them from its registry
    when it starts the worker, and `recgpt-stack exec` when a person runs the job against a running platform.

    What a profile is built from (interests and tags asked for) and the tag route whose items are explained
    are `RankingSettings`, the same fields the gateway serves with.
    """

    redis_url: str = Field(validation_alias="REDIS_URL")
    redis_prefix: str = "recgpt"
    # The caches' Redis (profiles, explanations: answers that can be computed again), bounded by eviction
    # apart from the state's; unset: REDIS_URL holds them (RECGPT_CACHE_REDIS_URL).
    cache_redis_url: str | None = None
    log_level: str = "INFO"
    retrieval_target: str = Field(min_length=1)
    intent_target: str = Field(min_length=1)
    tags_target: str = Field(min_length=1)
    explain_target: str = Field(min_length=1)
    # The model a stored profile must name to count as fresh: the served model name, as in RECGPT_LLM_MODEL.
    llm_model: str = DEFAULT_MODEL_NAME
    # The tag service's mode (RECGPT_TAG_MODE, read by both): its prompt version is part of a fresh profile's.
    tag_mode: TagMode = DEFAULT_TAG_MODE
    # Which profiles the job builds (RECGPT_PROFILE_METHOD): RecGPT-V1's (interests, then tags) or RecGPT-V2's
    # (planner -> experts -> arbiter, `recgpt_serving.persona_chain`), each under its own key and queue; and
    # what V2 asks of its agents (0: the services' defaults).
    profile_method: Literal["recgpt-v1", "recgpt-v2"] = "recgpt-v1"
    personas: int = Field(default=0, ge=0)
    expert_tags: int = Field(default=0, ge=0)
    # Users refreshed at once, at most; with `adaptive_concurrency` the limit starts at `concurrency_start`
    # (cut to `concurrency`), grows while the LLM answers in time and halves when it does not
    # (`nearline.adaptive`). Off: always `concurrency`.
    concurrency: int = Field(default=BATCH_CONCURRENCY, ge=1, le=512)
    adaptive_concurrency: bool = True
    concurrency_start: int = Field(default=4, ge=1, le=512)
    # Tag-route items per user whose explanations are precomputed (the gateway reads them cache-only).
    explain_items: int = Field(default=5, ge=0, le=50)
    # A stored profile younger than this (made by the current model and prompts) is not refreshed again.
    max_age_s: float = Field(default=LLM_PROFILE_MAX_AGE_S, gt=0)
    # A profile from fallback answers is refreshed after this instead, and leaves Redis then
    # (RECGPT_PROFILE_FALLBACK_TTL_S).
    profile_fallback_ttl_s: float = Field(default=FALLBACK_PROFILE_TTL_S, gt=0)
    # Deadline of each LLM-bound call (intent, tags, explain).
    llm_call_deadline_s: float = Field(default=BATCH_LLM_DEADLINE_S, gt=0)
    retrieval_deadline_s: float = Field(default=10.0, gt=0)
    # --follow: Prometheus metrics port and the address it listens on (0.0.0.0 in a container, so that
    # Prometheus can reach it), and how long one poll of the refresh queue blocks.
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    bind_host: str = "127.0.0.1"
    follow_poll_s: float = Field(default=1.0, gt=0)
    # --follow: after SIGTERM, users in flight get this long to finish; those still running are handed back
    # to the queue for another worker (an LLM-bound refresh may take minutes). Below Kubernetes'
    # terminationGracePeriodSeconds (30 s by default).
    shutdown_grace_s: float = Field(default=20.0, ge=0)
    # --follow: the refresh queue's retry policy (recgpt_domain.refresh_queue.RetryPolicy says what each is).
    refresh_lease_s: float = Field(default=DEFAULT_RETRY.lease_s, gt=0)
    refresh_max_attempts: int = Field(default=DEFAULT_RETRY.max_attempts, ge=1, le=100)
    refresh_backoff_s: float = Field(default=DEFAULT_RETRY.backoff_s, ge=0)
    refresh_backoff_max_s: float = Field(default=DEFAULT_RETRY.backoff_max_s, ge=0)
    refresh_failed_cooldown_s: float = Field(default=DEFAULT_RETRY.failed_cooldown_s, ge=0)
    refresh_dead_letters_max: int = Field(default=DEFAULT_RETRY.dead_letters_max, ge=1)
    # Any one Redis command of the follower may take this long before it is abandoned and retried.
    redis_timeout_s: float = Field(default=5.0, gt=0)
