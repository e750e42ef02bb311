"""`recgpt-experiments`: check a config file, send it to a gateway, reweight arms, print or render a report.

recgpt-experiments check deploy/experiments.yaml
recgpt-experiments put deploy/experiments.yaml --gateway http://127.0.0.1:8080   (token: RECGPT_ADMIN_TOKEN)
recgpt-experiments reweight deploy/experiments.yaml --experiment v1-vs-baseline \
        --weights control=0.3,treatment=0.7
recgpt-experiments report v1-vs-baseline --gateway http://127.0.0.1:8080 --html report.html
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml  # type: ignore[import-untyped]

from experiments import html_report
from experiments.allocation import reweight
from experiments.config import ConfigProblems, ExperimentConfig, check
from experiments.runtime import read_yaml

# The variants a gateway of this version serves (gateway.schemas.VARIANTS), for checks without a gateway.
KNOWN_VARIANTS = ("baseline", "recgpt-v1")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recgpt-experiments", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    checking = commands.add_parser("check", help="validate a YAML config")
    checking.add_argument("config", type=Path)
    putting = commands.add_parser("put", help="send a YAML config to the gateway's admin API")
    putting.add_argument("config", type=Path)
    putting.add_argument("--gateway", required=True)
    weights = commands.add_parser("reweight", help="print the config with new arm weights, moving few users")
    weights.add_argument("config", type=Path)
    weights.add_argument("--experiment", required=True)
    weights.add_argument("--weights", required=True, help="arm=share,... summing to 1")
    reporting = commands.add_parser("report", help="an experiment's report from the gateway")
    reporting.add_argument("experiment")
    reporting.add_argument("--gateway", required=True)
    reporting.add_argument("--html", type=Path, help="also write the self-contained HTML page here")
    reporting.add_argument("--json", type=Path, help="also write the report's JSON here")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "check":
            check(read_yaml(args.config), KNOWN_VARIANTS)
            print(f"{args.config}: valid")
        elif args.command == "put":
            _put(args)
        elif args.command == "reweight":
            _reweight(args)
        else:
            _report(args)
    except ConfigProblems as problems:
        raise SystemExit("invalid config:\n  " + "\n  ".join(problems.problems)) from problems
    except (ValueError, httpx.HTTPError) as error:
        raise SystemExit(f"recgpt-experiments: {error}") from error


def put_config(gateway: str, config: ExperimentConfig, token: str) -> int:
    response = httpx.put(
        f"{gateway}/v1/admin/experiments",
        json=config.model_dump(mode="json"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    if response.status_code != 200:
        raise ValueError(f"the gateway refused the config ({response.status_code}): {response.text}")
    revision: int = response.json()["revision"]
    return revision


def _put(args: argparse.Namespace) -> None:
    token = os.environ.get("RECGPT_ADMIN_TOKEN", "")
    if not token:
        raise SystemExit("RECGPT_ADMIN_TOKEN is not set")
    print(f"serving revision {put_config(args.gateway, read_yaml(args.config), token)}")


def _reweight(args: argparse.Namespace) -> None:
    config = read_yaml(args.config)
    shares = {name: float(share) for name, _, share in (p.partition("=") for p in args.weights.split(","))}
    layers = []
    for layer in config.layers:
        experiments = [reweight(e, shares) if e.id == args.experiment else e for e in layer.experiments]
        layers.append(layer.model_copy(update={"experiments": experiments}))
    changed = config.model_copy(update={"layers": layers})
    check(changed, KNOWN_VARIANTS)
    yaml.safe_dump(changed.model_dump(mode="json"), sys.stdout, sort_keys=False)


def _report(args: argparse.Namespace) -> None:
    response = httpx.get(f"{args.gateway}/v1/experiments/{args.experiment}/report", timeout=120)
    if response.status_code != 200:
        raise ValueError(f"no report ({response.status_code}): {response.text}")
    report: dict[str, Any] = response.json()
    print(render_text(report))
    if args.json:
        args.json.write_text(response.text)
    if args.html:
        args.html.write_text(html_report.render(report))
        print(f"HTML report: {args.html}")


def render_text(report: dict[str, Any]) -> str:
    """The report as the terminal shows it: arms, lifts with intervals, SRM and CUPED."""
    lines = [
        f"experiment {report['experiment']} (layer {report['layer']},"
        f" config revision {report['config_revision']})"
    ]
    for arm, row in report["arms"].items():
        totals, guard = row["totals"], row["guardrails"]
        lines.append(
            f"  {arm:<12} users {row['users']:>6}  impressions {totals['impressions']:>7}"
            f"  clicks {totals['clicks']:>5}  CTR {_pct(row['ctr']['value'])} {_ci(row['ctr']['ci'], True)}"
            f"  page views {totals['page_views']}  carts {totals['add_to_cart']}"
            f"  purchases {totals['purchases']}  volume {totals['transaction_volume']}"
        )
        novelty = row.get("novelty", {}).get("value")
        lines.append(
            f"  {'':<12} novelty {_pct(novelty)}  p95 {guard['p95_latency_ms']} ms"
            f"  errors {_pct(guard['error_rate'])}"
            f"  fallbacks {_pct(guard['fallback_rate'])}"
        )
    for arm, metrics in report["lift"].items():
        for metric, c in metrics.items():
            lines.append(
                f"  lift {arm} {metric:<28} abs {_num(c['absolute'])} {_ci(c['absolute_ci'])}"
                f"  rel {_pct(c['relative'])} {_ci(c['relative_ci'], True)}  p {_num(c['p_value'])}"
                f"  always-valid {_ci(c['sequential_ci'])}"
            )
    srm = report["srm"]
    lines.append(
        f"  SRM: chi-square {srm['chi_square']:.3f}, p {srm['p_value']:.4g}"
        f" -> {'MISMATCH' if srm['mismatch'] else 'ok'} (flag at p < 0.001)"
    )
    cuped = report["cuped"]
    if cuped.get("available"):
        lines.append(
            f"  CUPED (pre-period clicks): theta {_num(cuped['theta'])}, variance reduction "
            f"{_pct(cuped['variance_reduction'])},"
            f" users with pre-period clicks {cuped['users_with_pre_period_clicks']}"
        )
    excluded = report["excluded_users"]
    lines.append(f"  left out: {excluded}")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def _ci(ci: list[float | None] | None, percent: bool = False) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "[-]"
    fmt = _pct if percent else _num
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]"


if __name__ == "__main__":
    main()
