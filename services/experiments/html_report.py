"""The report as one self-contained HTML page: tables, and four charts that the page draws itself as SVG.

Nothing is fetched: the report's JSON is embedded and a small script draws CTR over time per arm with its
interval band, the CTR lift over time with its always-valid band (the one that may be read at every point),
each arm's lift with its intervals, and the assignment split against the phase's weights.
When the charts are drawn the script sets `data-charts-drawn` on <body>, which the browser test reads.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

CHART_IDS = ("chart-ctr", "chart-lift-time", "chart-lift", "chart-split")
# The arms' colours, in the order report_charts.js gives them.
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")

_STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}.flag{color:#b00;font-weight:bold}.ok{color:#070}
svg{background:#fafafa;border:1px solid #ddd}.legend span{margin-right:14px;font-size:13px}
"""

# Draws the charts from the embedded JSON; kept as a file of its own so that it reads as JavaScript.
_SCRIPT = (Path(__file__).parent / "report_charts.js").read_text()


def render(report: dict[str, Any]) -> str:
    payload = orjson.dumps(report, option=orjson.OPT_SERIALIZE_NUMPY).decode().replace("</", "<\\/")
    title = f"Experiment {report['experiment']}"
    legend = "".join(
        f'<span style="color:{_COLOURS[i % len(_COLOURS)]}">&#9632; {html.escape(a)}</span>'
        for i, a in enumerate(report["arms"])
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>Layer {html.escape(report["layer"])}, version {report["version"]},
config revision {report["config_revision"]}; control arm <b>{html.escape(report["control"])}</b>.
Users are the unit; intervals are 95%.</p>
{_phase_line(report)}
<p><b>How to read it:</b> {html.escape(report["reading"]["why"])}.</p>
<p>Exposures by config revision: {html.escape(str(report.get("exposures_by_config_revision", {})))}.</p>
{_srm_line(report)}
<h2>Per arm</h2>{_arms_table(report)}
<h2>Lift against control</h2>{_lift_table(report)}
{_revenue_line(report)}
<h2>CTR over time (cumulative, with 95% band)</h2><div class="legend">{legend}</div><div id="chart-ctr"></div>
<h2>CTR lift over time (always-valid band: may be read at every point; fixed-horizon band darker)</h2>
<div id="chart-lift-time"></div>
<h2>Relative lift with 95% interval</h2><div id="chart-lift"></div>
<h2>Assignment split (bar: users seen, line: the phase's weight)</h2><div id="chart-split"></div>
{_cuped_line(report)}
<h2>Phases</h2>{_phases_table(report)}
<script type="application/json" id="report-data">{payload}</script>
<script>{_SCRIPT}</script>
</body></html>
"""


def _fmt(value: Any, percent: bool = False) -> str:
    if value is None:
        return "-"
    if percent:
        return f"{value * 100:.2f}%"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _interval(ci: list[Any] | None, percent: bool = False) -> str:
    if not ci or ci[0] is None:
        return "-"
    return f"[{_fmt(ci[0], percent)}, {_fmt(ci[1], percent)}]"


def _phase_line(report: dict[str, Any]) -> str:
    phase = report["phase"]
    state = "the current one" if phase["current"] else "ended"
    weights = ", ".join(f"{html.escape(a)} {w * 100:g}%" for a, w in phase["weights"].items())
    return (
        f"<p>Phase {phase['number']} of {len(report['phases'])} ({state}; config revisions"
        f" {phase['first_revision']} to {phase['last_revision']}; weights {weights}): the users first"
        " exposed in this phase and their events while it lasted. A change of weights, buckets or version"
        " starts a new phase; users exposed in an earlier phase stay in that phase's report"
        f" ({report['excluded_users']['first_exposed_in_an_earlier_phase']} seen again here).</p>"
    )


def _phases_table(report: dict[str, Any]) -> str:
    rows = []
    for phase in report["phases"]:
        weights = ", ".join(f"{html.escape(a)} {w * 100:g}%" for a, w in phase["weights"].items())
        link = f'<a href="?format=html&amp;phase={phase["number"]}">{phase["number"]}</a>'
        rows.append(
            f"<tr><td>{link}</td><td>{phase['first_revision']}</td><td>{phase['last_revision']}</td>"
            f"<td>{_time(phase['started_ms'])}</td><td>{_time(phase['ended_ms'])}</td><td>{weights}</td>"
            f"<td>{phase['users_first_exposed']}</td></tr>"
        )
    return (
        "<table><tr><th>phase</th><th>first revision</th><th>last revision</th><th>started</th><th>ended</th>"
        "<th>weights</th><th>users first exposed</th></tr>" + "".join(rows) + "</table>"
    )


def _time(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _revenue_line(report: dict[str, Any]) -> str:
    revenue = report["revenue"]
    cap = revenue["purchase_value_cap"]
    capped = "uncapped" if cap is None else f"capped at {_fmt(cap)} ({revenue['purchases_capped']} capped)"
    return (
        f"<p>Transaction volume per user: purchase events {capped}; each user's revenue winsorised at"
        f" the {revenue['winsor_quantile']:g} quantile of purchasers' revenue,"
        f" {_fmt(revenue['winsor_threshold'])}"
        f" ({revenue['users_winsorised']} users). Paid {_fmt(revenue['volume_paid'])}, analysed"
        f" {_fmt(revenue['volume_analysed'])}.</p>"
    )


def _srm_line(report: dict[str, Any]) -> str:
    srm = report["srm"]
    verdict = (
        '<span class="flag">sample ratio mismatch</span>'
        if srm["mismatch"]
        else '<span class="ok">no mismatch</span>'
    )
    return (
        f"<p>Sample ratio check against the phase's weights: chi-square {srm['chi_square']:.3f},"
        f" p = {srm['p_value']:.4g}: {verdict} (flagged below p 0.001).</p>"
    )


_METRICS = (
    ("ctr", True),
    ("clicks_per_user", False),
    ("page_views_per_user", False),
    ("add_to_cart_per_user", False),
    ("purchases_per_user", False),
    ("transaction_volume_per_user", False),
    ("novelty", True),
    ("clicks_per_user_cuped", False),
)


def _arms_table(report: dict[str, Any]) -> str:
    metrics = [(m, p) for m, p in _METRICS if m in next(iter(report["arms"].values()))]
    head = "".join(f"<th>{m}</th>" for m, _ in metrics)
    rows = []
    for arm, row in report["arms"].items():
        guard = row["guardrails"]
        cells = "".join(
            f"<td>{_fmt(row[m]['value'], p)}<br><small>{_interval(row[m]['ci'], p)}</small></td>"
            for m, p in metrics
        )
        rows.append(
            f"<tr><td>{html.escape(arm)}</td><td>{row['users']}</td><td>{row['totals']['impressions']}</td>"
            f"<td>{row['totals']['clicks']}</td>{cells}<td>{_fmt(guard['p95_latency_ms'])}</td>"
            f"<td>{_fmt(guard['error_rate'], True)}</td><td>{_fmt(guard['fallback_rate'], True)}</td></tr>"
        )
    return (
        f"<table><tr><th>arm</th><th>users</th><th>impressions</th><th>clicks</th>{head}"
        f"<th>p95 ms</th><th>errors</th><th>fallbacks</th></tr>{''.join(rows)}</table>"
    )


def _lift_table(report: dict[str, Any]) -> str:
    rows = []
    for arm, metrics in report["lift"].items():
        for metric, c in metrics.items():
            percent = dict(_METRICS).get(metric, False)
            rows.append(
                f"<tr><td>{html.escape(arm)}</td><td>{metric}</td><td>{_fmt(c['absolute'], percent)}</td>"
                f"<td>{_interval(c['absolute_ci'], percent)}</td><td>{_fmt(c['relative'], True)}</td>"
                f"<td>{_interval(c['relative_ci'], True)}</td><td>{_fmt(c['p_value'])}</td>"
                f"<td>{_interval(c['sequential_ci'], percent)}</td>"
                f"<td>{_fmt(c['always_valid_p_value'])}</td></tr>"
            )
    return (
        "<table><tr><th>arm</th><th>metric</th><th>absolute</th><th>fixed-horizon 95% CI</th>"
        "<th>relative</th><th>95% CI</th><th>fixed-horizon p</th><th>always-valid 95% CI</th>"
        "<th>always-valid p</th></tr>" + "".join(rows) + "</table>"
    )


def _cuped_line(report: dict[str, Any]) -> str:
    cuped = report["cuped"]
    if not cuped.get("available"):
        return "<p>CUPED: the experiment has no pre-period.</p>"
    return (
        f"<p>CUPED on clicks per user with pre-period clicks: theta {_fmt(cuped.get('theta'))}, variance "
        f"reduced by {_fmt(cuped.get('variance_reduction'), True)}.</p>"
    )
