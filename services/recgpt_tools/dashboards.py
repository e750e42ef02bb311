"""The Grafana dashboards as code (grafana-foundation-sdk): `python -m recgpt_tools.dashboards` writes them.

One dashboard per concern: the services (rate, errors, p50/p95/p99 per service and method), the LLM (our
agents and vLLM's own metrics), the experiments (assignments, CTR and guardrails per arm) and the caches.
The JSON under deploy/grafana/dashboards is generated from here and committed; tests/deploy fails when it is
stale, and an integration test evaluates every query below on a real Prometheus scraping the platform.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders.common import VizLegendOptions
from grafana_foundation_sdk.builders.dashboard import Dashboard as DashboardBuilder
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.timeseries import Panel as TimeseriesPanel
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import LegendDisplayMode, LegendPlacement
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards"
# The provisioned datasource (deploy/grafana/provisioning/datasources/prometheus.yml).
DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")
PANEL_WIDTH = 12
PANEL_HEIGHT = 8
# Windows of rate(): short for request traffic, longer for the rarer LLM and experiment events.
FAST = "1m"
SLOW = "5m"
# The experiment metrics the gateway's experiments (services/experiments) export once they are merged: the
# dashboard queries them already; until a process exports them, the tests name them as awaited.
EXPERIMENT_METRICS = frozenset(
    {
        "recgpt_experiment_assignments_total",
        "recgpt_experiment_exposures_total",
        "recgpt_experiment_events_total",
    }
)
AWAITED_METRICS = EXPERIMENT_METRICS


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[Query, ...]
    unit: str
    description: str = ""


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)

    @property
    def file_name(self) -> str:
        return f"{self.uid}.json"


def quantiles(metric: str, by: str, selector: str = "", window: str = FAST) -> tuple[Query, ...]:
    """p50, p95 and p99 of a latency histogram, per the labels in `by`."""
    labels = f"le, {by}" if by else "le"
    legend_labels = " ".join(f"{{{{{name.strip()}}}}}" for name in by.split(",") if name.strip())
    return tuple(
        Query(
            f"histogram_quantile({q}, sum by ({labels}) (rate({metric}_bucket{selector}[{window}])))",
            f"{legend_labels} p{int(q * 100)}".strip(),
        )
        for q in (0.5, 0.95, 0.99)
    )


def per_arm_ratio(numerator: str, denominator: str) -> str:
    return (
        f"sum by (experiment, arm) (rate({numerator}[{SLOW}]))"
        f" / sum by (experiment, arm) (rate({denominator}[{SLOW}]))"
    )


SERVICES = Dashboard(
    uid="recgpt-services",
    title="RecGPT services",
    description="Every process: requests/s, errors and latency percentiles per service and method.",
    panels=(
        Panel(
            "Requests/s by service and method",
            (
                Query(
                    f"sum by (service, method) (rate(recgpt_requests_total[{FAST}]))",
                    "{{service}} {{method}}",
                ),
            ),
            "reqps",
        ),
        Panel(
            "Error ratio by service and method",
            (
                # 0 for a method with traffic and no failure; a method without traffic in the window
                # has no ratio (its past failures would otherwise read 0/0, NaN).
                Query(
                    "(sum by (service, method) (rate(recgpt_requests_total"
                    f'{{code!~"2..|OK|4..|INVALID_ARGUMENT|NOT_FOUND"}}[{FAST}]))'
                    f" or 0 * sum by (service, method) (rate(recgpt_requests_total[{FAST}])))"
                    f" / (sum by (service, method) (rate(recgpt_requests_total[{FAST}])) > 0)",
                    "{{service}} {{method}}",
                ),
            ),
            "percentunit",
            "Server-side failures (5xx, gRPC errors other than the caller's bad input) over all requests.",
        ),
        Panel(
            "Gateway latency p50 / p95 / p99 by route",
            quantiles("recgpt_request_duration_seconds", "method", '{service="gateway"}'),
            "s",
        ),
        Panel(
            "gRPC latency p50 / p95 / p99 by service and method",
            quantiles("recgpt_request_duration_seconds", "service, method", '{service!="gateway"}'),
            "s",
        ),
        Panel(
            "Gateway responses/s by status",
            (Query(f'sum by (code) (rate(recgpt_requests_total{{service="gateway"}}[{FAST}]))', "{{code}}"),),
            "reqps",
        ),
        Panel(
            "Gateway refusals/s by reason",
            (
                Query(
                    f"sum by (reason) (rate(recgpt_gateway_rejected_total[{FAST}]))",
                    "{{reason}}",
                ),
            ),
            "reqps",
            "Requests refused before they were served: keys, scopes, user tokens, rate limits (429), "
            "admission control (503), HTTP limits.",
        ),
        Panel(
            "Gateway requests in flight and event-loop lag",
            (
                Query("max by (pool) (recgpt_gateway_in_flight)", "in flight: {{pool}}"),
                Query("1000 * max(recgpt_gateway_loop_lag_seconds)", "loop lag (ms)"),
            ),
            "short",
            "Admission control sheds new requests while the loop lag exceeds the queueing deadline.",
        ),
        Panel(
            "Dependency latency p99 by caller",
            (
                Query(
                    "histogram_quantile(0.99, sum by (le, service, dependency, method)"
                    f" (rate(recgpt_dependency_duration_seconds_bucket[{FAST}])))",
                    "{{service}} -> {{dependency}} {{method}}",
                ),
            ),
            "s",
        ),
        Panel(
            "Degraded answers/s by dependency",
            (
                Query(
                    f"sum by (service, dependency) (rate(recgpt_degradations_total[{FAST}]))",
                    "{{service}} {{dependency}}",
                ),
            ),
            "reqps",
        ),
        Panel(
            "Processes up (every scrape target)",
            (Query("up", "{{job}}"),),
            "short",
            "1 when Prometheus scraped the process at its last try.",
        ),
        Panel(
            "Near-line users/min by outcome",
            (Query(f"60 * sum by (outcome) (rate(recgpt_nearline_users_total[{SLOW}]))", "{{outcome}}"),),
            "short",
        ),
        Panel(
            "Refresh queue depth (near-line worker)",
            (Query("max by (method) (recgpt_refresh_queue_depth)", "{{method}}"),),
            "short",
        ),
        Panel(
            "Items in the FAISS index",
            (Query("max by (index) (recgpt_index_items)", "{{index}}"),),
            "short",
        ),
    ),
)

LLM = Dashboard(
    uid="recgpt-llm",
    title="RecGPT LLM",
    description="The LLM agents (tokens, latency, fallbacks, dropped outputs) and vLLM's own metrics.",
    panels=(
        Panel(
            "Tokens/s by agent and kind",
            (Query(f"sum by (agent, kind) (rate(recgpt_llm_tokens_total[{SLOW}]))", "{{agent}} {{kind}}"),),
            "short",
        ),
        Panel(
            "LLM call latency p50 / p95 / p99 by agent",
            quantiles("recgpt_llm_request_duration_seconds", "agent", window=SLOW),
            "s",
        ),
        Panel(
            "LLM calls/s by agent and outcome",
            (
                Query(
                    f"sum by (agent, outcome) (rate(recgpt_llm_requests_total[{SLOW}]))",
                    "{{agent}} {{outcome}}",
                ),
            ),
            "reqps",
        ),
        Panel(
            "Fallbacks/s by agent and reason",
            (
                Query(
                    # Counted only when one happens: none in the window reads 0, not "no data".
                    f"sum by (agent, reason) (rate(recgpt_agent_fallbacks_total[{SLOW}])) or on() vector(0)",
                    "{{agent}} {{reason}}",
                ),
            ),
            "reqps",
        ),
        Panel(
            "Entity-token calls/s by agent and outcome (spliced, or why the text answered)",
            (
                Query(
                    # Counted only when a call wants entity tokens: none in the window reads 0, not "no data".
                    f"sum by (agent, outcome) (rate(recgpt_entity_tokens_requests_total[{SLOW}]))"
                    " or on() vector(0)",
                    "{{agent}} {{outcome}}",
                ),
            ),
            "reqps",
        ),
        Panel(
            "Dropped output entries/s by agent and check",
            (
                Query(
                    # Counted only when one happens: none in the window reads 0, not "no data".
                    f"sum by (agent, reason) (rate(recgpt_agent_dropped_outputs_total[{SLOW}]))"
                    " or on() vector(0)",
                    "{{agent}} {{reason}}",
                ),
            ),
            "short",
        ),
        Panel(
            "Invalid LLM outputs/s by agent and reason",
            (
                Query(
                    # Counted only when one happens: none in the window reads 0, not "no data".
                    f"sum by (agent, reason) (rate(recgpt_llm_invalid_output_total[{SLOW}]))"
                    " or on() vector(0)",
                    "{{agent}} {{reason}}",
                ),
            ),
            "short",
        ),
        Panel(
            "vLLM queue: requests running and waiting",
            (
                Query("sum(vllm:num_requests_running)", "running"),
                Query("sum(vllm:num_requests_waiting)", "waiting"),
            ),
            "short",
        ),
        Panel(
            "vLLM tokens/s (prompt, generation)",
            (
                Query(f"sum(rate(vllm:prompt_tokens_total[{SLOW}]))", "prompt"),
                Query(f"sum(rate(vllm:generation_tokens_total[{SLOW}]))", "generation"),
            ),
            "short",
        ),
        Panel(
            "vLLM end-to-end latency p50 / p95 / p99",
            quantiles("vllm:e2e_request_latency_seconds", "", window=SLOW),
            "s",
        ),
        Panel(
            "vLLM time to first token p50 / p95 / p99",
            quantiles("vllm:time_to_first_token_seconds", "", window=SLOW),
            "s",
        ),
        Panel(
            "vLLM queue time p95",
            (
                Query(
                    "histogram_quantile(0.95, sum by (le)"
                    f" (rate(vllm:request_queue_time_seconds_bucket[{SLOW}])))",
                    "p95",
                ),
            ),
            "s",
        ),
        Panel(
            "vLLM KV cache usage",
            (Query("max(vllm:kv_cache_usage_perc)", "used"),),
            "percentunit",
        ),
        Panel(
            "Judge verdicts/s by subject and verdict",
            (
                Query(
                    f"sum by (subject, verdict, source) (rate(recgpt_judge_verdicts_total[{SLOW}]))",
                    "{{subject}} {{verdict}} {{source}}",
                ),
            ),
            "short",
        ),
    ),
)

EXPERIMENTS = Dashboard(
    uid="recgpt-experiments",
    title="RecGPT experiments",
    description="Per experiment and arm over time: assignments, exposures, events, CTR and guardrails.",
    panels=(
        Panel(
            "Assignments/s by experiment and arm",
            (
                Query(
                    f"sum by (experiment, arm) (rate(recgpt_experiment_assignments_total[{SLOW}]))",
                    "{{experiment}} {{arm}}",
                ),
            ),
            "reqps",
        ),
        Panel(
            "Exposures/s by experiment and arm",
            (
                Query(
                    f"sum by (experiment, arm) (rate(recgpt_experiment_exposures_total[{SLOW}]))",
                    "{{experiment}} {{arm}}",
                ),
            ),
            "reqps",
        ),
        Panel(
            "Events/s by experiment, arm and type",
            (
                Query(
                    f"sum by (experiment, arm, type) (rate(recgpt_experiment_events_total[{SLOW}]))",
                    "{{experiment}} {{arm}} {{type}}",
                ),
            ),
            "short",
        ),
        Panel(
            "CTR (clicks / impressions) by experiment and arm",
            (
                Query(
                    per_arm_ratio(
                        'recgpt_experiment_events_total{type="click"}',
                        'recgpt_experiment_events_total{type="impression"}',
                    ),
                    "{{experiment}} {{arm}}",
                ),
            ),
            "percentunit",
        ),
        Panel(
            "Guardrail: gateway latency p95 (all arms)",
            quantiles("recgpt_request_duration_seconds", "", '{service="gateway",method="/v1/recommend"}')[
                1:2
            ],
            "s",
            "Latency is not labelled by arm (bounded labels); a regression shows here and in the report's "
            "per-arm p95.",
        ),
        Panel(
            "Guardrail: gateway error and degraded ratio (all arms)",
            (
                Query(
                    f'sum(rate(recgpt_requests_total{{service="gateway",code=~"5.."}}[{SLOW}]))'
                    f' / sum(rate(recgpt_requests_total{{service="gateway"}}[{SLOW}]))',
                    "errors",
                ),
                Query(
                    f'sum(rate(recgpt_degradations_total{{service="gateway"}}[{SLOW}]))'
                    f' / sum(rate(recgpt_requests_total{{service="gateway"}}[{SLOW}]))',
                    "degraded",
                ),
            ),
            "percentunit",
        ),
    ),
)

CACHES = Dashboard(
    uid="recgpt-caches",
    title="RecGPT caches",
    description="Hit ratio and look-ups per cache (profiles, explanations) and vLLM's prefix cache.",
    panels=(
        Panel(
            "Hit ratio by cache",
            (
                Query(
                    f'sum by (cache) (rate(recgpt_cache_requests_total{{result="hit"}}[{SLOW}]))'
                    f" / sum by (cache) (rate(recgpt_cache_requests_total[{SLOW}]))",
                    "{{cache}}",
                ),
            ),
            "percentunit",
        ),
        Panel(
            "Look-ups/s by cache and result",
            (
                Query(
                    f"sum by (cache, result) (rate(recgpt_cache_requests_total[{SLOW}]))",
                    "{{cache}} {{result}}",
                ),
            ),
            "reqps",
        ),
        Panel(
            "vLLM prefix cache hit ratio",
            (
                Query(
                    f"sum(rate(vllm:prefix_cache_hits_total[{SLOW}]))"
                    f" / sum(rate(vllm:prefix_cache_queries_total[{SLOW}]))",
                    "prefix cache",
                ),
            ),
            "percentunit",
        ),
        Panel(
            "Profile refreshes asked on a miss/s by outcome",
            (
                Query(
                    f"sum by (outcome) (rate(recgpt_profile_refresh_requests_total[{SLOW}]))",
                    "{{outcome}}",
                ),
            ),
            "reqps",
        ),
    ),
)

DASHBOARDS: tuple[Dashboard, ...] = (SERVICES, LLM, EXPERIMENTS, CACHES)


def _panel(panel: Panel, index: int) -> TimeseriesPanel:
    builder = (
        TimeseriesPanel()
        .id(index + 1)
        .title(panel.title)
        .datasource(DATASOURCE)
        .unit(panel.unit)
        .legend(
            VizLegendOptions()
            .display_mode(LegendDisplayMode.LIST)
            .placement(LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .grid_pos(
            GridPos(
                h=PANEL_HEIGHT,
                w=PANEL_WIDTH,
                x=(index % 2) * PANEL_WIDTH,
                y=(index // 2) * PANEL_HEIGHT,
            )
        )
    )
    if panel.description:
        builder = builder.description(panel.description)
    for ref, query in zip("ABCDEFGH", panel.queries, strict=False):
        target = Dataquery().expr(query.expr).ref_id(ref).datasource(DATASOURCE).range()
        if query.legend:
            target = target.legend_format(query.legend)
        builder = builder.with_target(target)
    return builder


def build(dashboard: Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (a dict, ready for json.dumps)."""
    builder = (
        DashboardBuilder(dashboard.title)
        .uid(dashboard.uid)
        .description(dashboard.description)
        .tags(["recgpt"])
        .editable()
        .refresh("10s")
        .time("now-30m", "now")
    )
    for index, panel in enumerate(dashboard.panels):
        builder = builder.with_panel(_panel(panel, index))
    encoded: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    return encoded


def render(dashboard: Dashboard) -> str:
    """The committed text of a dashboard: sorted keys, two-space indent, a final newline."""
    return json.dumps(build(dashboard), indent=2, sort_keys=True) + "\n"


def expressions(dashboards: Sequence[Dashboard] = DASHBOARDS) -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, PromQL) for every query of every panel."""
    return [
        (dashboard.uid, panel.title, query.expr)
        for dashboard in dashboards
        for panel in dashboard.panels
        for query in panel.queries
    ]


def write(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for dashboard in DASHBOARDS:
        path = out / dashboard.file_name
        path.write_text(render(dashboard))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder of the dashboard JSON files")
    args = parser.parse_args(argv)
    for path in write(args.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
