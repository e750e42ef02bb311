"""Every Prometheus metric of the platform, in one place so that names and labels stay consistent.

Labels are bounded: service, method, agent, cache and arm names, never a user id or a URL.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

# Requests are mostly milliseconds; LLM calls run to tens of seconds on a CPU.
_REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LLM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0)

REQUESTS = Counter(
    "recgpt_requests_total", "Requests handled, by outcome code.", ["service", "method", "code"]
)
REQUEST_DURATION = Histogram(
    "recgpt_request_duration_seconds",
    "Time to handle a request.",
    ["service", "method"],
    buckets=_REQUEST_BUCKETS,
)
DEPENDENCY_DURATION = Histogram(
    "recgpt_dependency_duration_seconds",
    "Time of outbound calls to other services.",
    ["service", "dependency", "method"],
    buckets=_REQUEST_BUCKETS,
)
DEGRADATIONS = Counter(
    "recgpt_degradations_total",
    "Requests answered without a dependency that failed or ran out of time.",
    ["service", "dependency"],
)
DEPENDENCY_FAILURES = Counter(
    "recgpt_dependency_failures_total",
    "Outbound calls that failed, by why: a gRPC status name (RESOURCE_EXHAUSTED: the dependency shed the "
    "call at its concurrency cap), timeout, or error.",
    ["service", "dependency", "reason"],
)
LAST_RESORT_ITEMS = Gauge(
    "recgpt_last_resort_items",
    "Popular items the gateway holds for when retrieval cannot be reached (0: none yet).",
)
GATEWAY_REJECTED = Counter(
    "recgpt_gateway_rejected_total",
    "Requests the gateway refused before serving them, by why: missing_key, malformed_key, unknown_key, "
    "revoked_key, wrong_scope, user_token_missing, user_token_invalid, user_token_expired, user_mismatch, "
    "rate_limited, overloaded, queue_timeout, key_store_unavailable, headers_too_large, slow_headers, "
    "slow_body.",
    ["reason"],
)
GATEWAY_IN_FLIGHT = Gauge(
    "recgpt_gateway_in_flight",
    "Requests the gateway is serving now (admitted), by admission pool: default, feed_command.",
    ["pool"],
)
GATEWAY_LOOP_LAG = Gauge(
    "recgpt_gateway_loop_lag_seconds",
    "How late the gateway's event loop runs a timer: what a request arriving now waits before it starts.",
)
AUTH_KEYS_HELD = Gauge("recgpt_auth_keys_held", "API keys a gateway holds (revoked ones included).")
AUTH_KEY_REFRESHES = Counter(
    "recgpt_auth_key_refreshes_total",
    "Polls of the key store, by outcome: unchanged, changed, failed.",
    ["outcome"],
)
LLM_TOKENS = Counter("recgpt_llm_tokens_total", "LLM tokens, by agent and kind.", ["agent", "kind"])
LLM_DURATION = Histogram(
    "recgpt_llm_request_duration_seconds", "Time of one LLM call.", ["agent"], buckets=_LLM_BUCKETS
)
LLM_REQUESTS = Counter("recgpt_llm_requests_total", "LLM calls, by outcome.", ["agent", "outcome"])
LLM_INVALID_OUTPUT = Counter(
    "recgpt_llm_invalid_output_total",
    "LLM outputs rejected by validation, by reason.",
    ["agent", "reason"],
)
LLM_ADAPTER_CALLS = Counter(
    "recgpt_llm_adapter_calls_total",
    "LLM calls by what answered: a LoRA adapter, the agent's own engine (merged) or the base model.",
    ["agent", "served"],
)
LLM_ADAPTER_FAILURES = Counter(
    "recgpt_llm_adapter_failures_total",
    "Adapter choices refused (another base model, failed load, ...): the base model answered instead.",
    ["agent", "reason"],
)
LLM_RETRIES = Counter("recgpt_llm_retries_total", "LLM calls retried on another worker.", ["agent"])
AGENT_FALLBACKS = Counter(
    "recgpt_agent_fallbacks_total",
    "Agent answers that fell back to their non-LLM result, by reason (agent_runner.FallbackReason).",
    ["agent", "reason"],
)
ENTITY_TOKEN_REQUESTS = Counter(
    "recgpt_entity_tokens_requests_total",
    "Agent calls that wanted entity tokens, by outcome (spliced, or why the item texts answered instead).",
    ["agent", "outcome"],
)
ENTITY_TABLE_REFUSED = Counter(
    "recgpt_entity_tokens_table_refused_total",
    "Entity-token artefacts refused at start (another model or catalogue, altered or unreadable).",
)
AGENT_DROPPED_OUTPUTS = Counter(
    "recgpt_agent_dropped_outputs_total",
    "Entries of otherwise valid LLM answers dropped by checks (duplicate, unknown, off-topic, ungrounded).",
    ["agent", "reason"],
)
JUDGE_VERDICTS = Counter(
    "recgpt_judge_verdicts_total",
    "Judged artefacts by subject and verdict (pass, fail, superior, average, bad, unavailable); source is"
    " offline (evaluation) or live (sampled traffic).",
    ["subject", "verdict", "source"],
)
JUDGE_PANEL_DEFECTS = Counter(
    "recgpt_judge_panel_defects_total",
    "Defects agent-as-a-judge found, by subject (explanation, tag) and dimension (judge_panel's closed set).",
    ["subject", "dimension"],
)
JUDGE_PANEL_MEMBER_FAILURES = Counter(
    "recgpt_judge_panel_member_failures_total",
    "Members that failed (judge.panel.PanelFallback reasons) on an artefact a rule had already made Bad: it "
    "stays Bad on the rules' findings, without the V1 judge.",
    ["subject", "reason"],
)
JUDGE_PANEL_FALLBACKS = Counter(
    "recgpt_judge_panel_fallbacks_total",
    "Artefacts agent-as-a-judge handed to the V1 judge, by subject and reason (judge.panel.PanelFallback).",
    ["subject", "reason"],
)
EXPLAIN_V2_FALLBACKS = Counter(
    "recgpt_explain_v2_fallbacks_total",
    "Meta-prompted explanations answered by the V1 path instead, by reason (explain.meta_prompting).",
    ["reason"],
)
EXPLAIN_V2_SENTENCES = Counter(
    "recgpt_explain_v2_sentences_total",
    "Meta-prompted sentences that passed, by the schema that wrote them: free, or named (a resample whose "
    "opening, the item's short name, the schema's pattern forces).",
    ["schema"],
)
EXPLANATIONS_SERVED = Counter(
    "recgpt_explanations_served_total",
    "Explanations of recgpt-v2 page items by what served them: recgpt_v2 (meta-prompted, for the request's"
    " situation), recgpt_v1_next_best (V1's cached text), none.",
    ["method"],
)
NEARLINE_USERS = Counter(
    "recgpt_nearline_users_total", "Users handled by the near-line job, by outcome.", ["outcome"]
)
NEARLINE_USER_DURATION = Histogram(
    "recgpt_nearline_user_duration_seconds",
    "Time to refresh one user's profile (interests, tags, explanations).",
    buckets=_LLM_BUCKETS,
)
NEARLINE_CONCURRENCY_LIMIT = Gauge(
    "recgpt_nearline_concurrency_limit",
    "Users the near-line job may refresh at once now (nearline.adaptive; the maximum when it is fixed).",
)
NEARLINE_CONCURRENCY_DECREASES = Counter(
    "recgpt_nearline_concurrency_decreases_total",
    "Times the near-line job halved its concurrency limit on congestion (a fallback or a missed deadline).",
)
CACHE_REQUESTS = Counter("recgpt_cache_requests_total", "Cache look-ups, by result.", ["cache", "result"])
EXPERIMENT_ASSIGNMENTS = Counter(
    "recgpt_experiment_assignments_total", "Users assigned to arms.", ["experiment", "arm"]
)
EXPERIMENT_EVENTS = Counter(
    "recgpt_experiment_events_total",
    "Stored user events by experiment, arm and type (experiment and arm `none` outside experiments).",
    ["experiment", "arm", "type"],
)
EVENT_OUTCOMES = Counter(
    "recgpt_event_outcomes_total",
    "Events received, by type (`invalid` when unreadable) and outcome: stored, duplicate, rejected, failed.",
    ["type", "outcome"],
)
EXPERIMENT_EXPOSURES = Counter(
    "recgpt_experiment_exposures_total",
    "Recommendation responses served to a user in an experiment arm.",
    ["experiment", "arm"],
)
EXPOSURE_WRITES = Counter(
    "recgpt_experiment_exposure_writes_total",
    "Exposure records written to Redis, or dropped from a full buffer while Redis was unavailable.",
    ["outcome"],
)
EXPERIMENT_CONFIG_CHANGES = Counter(
    "recgpt_experiment_config_changes_total",
    "Config changes asked of the admin API: applied, invalid, store_unavailable.",
    ["outcome"],
)
EXPERIMENT_CONFIG_REVISION = Gauge(
    "recgpt_experiment_config_revision", "Revision of the experiment config this process serves."
)
EXPERIMENT_LEDGER_FOLDED = Counter(
    "recgpt_experiment_ledger_folded_total",
    "Stream entries folded into the experiments' ledgers (the reports' per-user facts), by stream.",
    ["stream"],
)
EXPERIMENT_LEDGER_LAG = Gauge(
    "recgpt_experiment_ledger_lag_seconds",
    "How far behind now an experiment's ledger has folded the events (settle time included).",
    ["experiment"],
)
REDIS_TRIMMED = Counter(
    "recgpt_redis_trimmed_total",
    "Entries dropped from a bounded Redis family by its trim, by family.",
    ["family"],
)
# Retrieval's learned route (the towers).
TOWERS_ARTEFACT_LOADS = Counter(
    "recgpt_towers_artefact_loads_total",
    "Towers artefacts loaded, by outcome: loaded, failed, fetch_failed (the artefact store was unreadable).",
    ["outcome"],
)
COLLABORATIVE_ANSWERS = Counter(
    "recgpt_collaborative_answers_total",
    "Collaborative answers by the route that led them (ranked = the artefact's ranker over the learned, "
    "co-occurrence, content and popular candidates; learned; collaborative = co-occurrence; popular).",
    ["route"],
)
TOWERS_USER_VECTOR_DURATION = Histogram(
    "recgpt_towers_user_vector_duration_seconds",
    "Time to compute one user vector with the user tower.",
    buckets=(0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064),
)
INDEX_ITEMS = Gauge("recgpt_index_items", "Items in the loaded FAISS index.", ["index"])
RECOMMENDED_ITEMS = Histogram(
    "recgpt_recommended_items",
    "Items returned per recommendation.",
    ["route"],
    buckets=(0, 1, 5, 10, 20, 50, 100),
)


def serve(port: int, addr: str = "127.0.0.1") -> None:
    """Exposes the default registry on `addr:port/metrics` from a background thread."""
    start_http_server(port, addr=addr)


LIVE_JUDGE_SAMPLES = Counter(
    "recgpt_live_judge_samples_total",
    "Live responses with explanations offered to the judge: not_sampled (left out by the sample share),"
    " started, skipped_busy (max in flight), then done or failed.",
    ["outcome"],
)
PROFILE_REFRESHES = Counter(
    "recgpt_profile_refresh_requests_total",
    "Profile refreshes the gateway asked for on a miss: queued, already_queued, recently_failed, queue_full,"
    " unknown_user (no behaviour: nothing queued), failed (Redis).",
    ["outcome"],
)
REFRESH_QUEUE_DEPTH = Gauge(
    "recgpt_refresh_queue_depth",
    "Entries in the refresh queue (waiting, being refreshed or waiting for a retry), as the worker last saw.",
    ["method"],
)
REFRESH_QUEUE_ENTRIES = Counter(
    "recgpt_refresh_queue_entries_total",
    "Refresh queue entries the near-line worker handled: taken, reclaimed (lease or backoff lapsed), acked,"
    " retried, dead_lettered, released (handed back unfinished at a stop).",
    ["event"],
)

# RecBot's feed: commands by outcome (ok, invalid, unavailable), where their time goes, what the parser
# understood and who understood it, and each planned tool's time.
FEED_COMMANDS = Counter("recgpt_feed_commands_total", "Feed commands, by outcome.", ["outcome"])
FEED_STAGE_DURATION = Histogram(
    "recgpt_feed_stage_duration_seconds",
    "Time of a feed command's stages (read, parse, store, plan, total).",
    ["stage"],
    buckets=_REQUEST_BUCKETS,
)
COMMAND_PARTS = Counter(
    "recgpt_command_parts_total",
    "Parts of feed commands the parser produced, by source (rules, llm), kind and resolution.",
    ["source", "kind", "resolution"],
)
TOOL_DURATION = Histogram(
    "recgpt_tool_duration_seconds", "Time of one RecBot tool in a plan.", ["tool"], buckets=_REQUEST_BUCKETS
)
# RecGPT-V2's planner -> experts -> arbiter.
EXPERT_DUPLICATE_SHARE = Histogram(
    "recgpt_tag_expert_duplicate_share",
    "Share of one user's expert picks naming a category another expert already picked (at arbitration).",
    buckets=(0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0),
)
PERSONA_CHAIN_PATHS = Counter(
    "recgpt_persona_chain_paths_total",
    "RecGPT-V2 tag answers by the path that made them: v2, fewer_personas (some experts fell back), v1_tags.",
    ["path"],
)
