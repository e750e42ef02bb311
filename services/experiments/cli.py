"""`recgpt-experiments`: check a config file, send it to a gateway, reweight arms, print or render a report.

recgpt-experiments check deploy/experiments.yaml
recgpt-stack exec -- recgpt-experiments put deploy/experiments.yaml
recgpt-experiments reweight deploy/experiments.yaml --experiment v1-vs-baseline \
        --weights control=0.3,treatment=0.7
recgpt-stack exec -- recgpt-experiments report v1-vs-baseline --html report.html [--phase 1]

`put` and `report` call the gateway's operators' listener (RECGPT_GATEWAY_INTERNAL_URL, or --internal-url):
`put` with the admin key (RECGPT_ADMIN_KEY), `report` with a key that may read reports (RECGPT_API_KEY,
else the admin key). `recgpt-stack exec` sets all three for the platform `make run` started.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml  # type: ignore[import-untyped]
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from experiments import html_report
from experiments.allocation import reweight
from experiments.config import ConfigProblems, Experiment, ExperimentConfig, check
from experiments.runtime import read_yaml

# The variants a gateway of this version serves (gateway.schemas.VARIANTS), for checks without a gateway.
KNOWN_VARIANTS = ("baseline", "recgpt-v1", "recgpt-v2")
ADMIN_PATH = "/v1/admin/experiments"


class OperatorSettings(BaseSettings):
    """The gateway's operators' listener and the keys for it, as `recgpt-stack exec` hands them over."""

    model_config = SettingsConfigDict(env_prefix="RECGPT_", extra="ignore", frozen=True)

    gateway_internal_url: str = ""
    # The admin scope (put); reports need reports:read, which the development key has.
    admin_key: SecretStr = SecretStr("")
    api_key: SecretStr = SecretStr("")


class MissingSetting(ValueError):
    """A call the environment does not say how to make; the message says what to set."""


def operators_client(
    url: str, key: str, *, timeout: float = 10, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """The gateway's operators' listener at `url`, every request presenting `key`."""
    return httpx.Client(
        base_url=url.rstrip("/"),
        headers={"authorization": f"Bearer {key}"},
        timeout=timeout,
        transport=transport,
    )


_INTERNAL_URL_HELP = "the gateway's operators' root (default: RECGPT_GATEWAY_INTERNAL_URL)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recgpt-experiments", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    checking = commands.add_parser("check", help="validate a YAML config")
    checking.add_argument("config", type=Path)
    putting = commands.add_parser("put", help="send a YAML config to the gateway's admin API")
    putting.add_argument("config", type=Path)
    putting.add_argument("--internal-url", help=_INTERNAL_URL_HELP)
    weights = commands.add_parser(
        "reweight", help="print the config with new arm weights, moving few users (starts a new phase)"
    )
    weights.add_argument("config", type=Path)
    weights.add_argument("--experiment", required=True)
    weights.add_argument("--weights", required=True, help="arm=share,... summing to 1")
    reporting = commands.add_parser("report", help="an experiment's report from the gateway")
    reporting.add_argument("experiment")
    reporting.add_argument("--internal-url", help=_INTERNAL_URL_HELP)
    reporting.add_argument("--phase", type=int, help="which phase, 1 the first (default: the current one)")
    reporting.add_argument("--html", type=Path, help="also write the self-contained HTML page here")
    reporting.add_argument("--json", type=Path, help="also write the report's JSON here")
    return parser


def main(
    argv: list[str] | None = None,
    *,
    settings: OperatorSettings | None = None,
    transport: httpx.BaseTransport | None = None,
) -> None:
    """The command line; `settings` and `transport` stand in for the environment and the network in tests."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "check":
            check(read_yaml(args.config), KNOWN_VARIANTS)
            print(f"{args.config}: valid")
        elif args.command == "put":
            _put(args, settings or OperatorSettings(), transport)
        elif args.command == "reweight":
            _reweight(args)
        else:
            _report(args, settings or OperatorSettings(), transport)
    except ConfigProblems as problems:
        raise SystemExit("invalid config:\n  " + "\n  ".join(problems.problems)) from problems
    except (ValueError, httpx.HTTPError) as error:
        raise SystemExit(f"recgpt-experiments: {error}") from error


def put_config(client: httpx.Client, config: ExperimentConfig) -> int:
    """Replaces the gateway's experiment config; `client` is its operators' listener with the admin key."""
    response = client.put(ADMIN_PATH, json=config.model_dump(mode="json"))
    if response.status_code != 200:
        raise ValueError(f"the gateway refused the config ({response.status_code}): {response.text}")
    revision: int = response.json()["revision"]
    return revision


def _internal_url(args: argparse.Namespace, settings: OperatorSettings) -> str:
    url: str = args.internal_url or settings.gateway_internal_url
    if not url:
        raise MissingSetting(
            "no operators' address: give --internal-url, or run it by `recgpt-stack exec -- ...`"
            " (RECGPT_GATEWAY_INTERNAL_URL)"
        )
    return url


def _put(args: argparse.Namespace, settings: OperatorSettings, transport: httpx.BaseTransport | None) -> None:
    key = settings.admin_key.get_secret_value()
    if not key:
        raise MissingSetting(
            "RECGPT_ADMIN_KEY is not set: run it by `recgpt-stack exec -- ...`, or set it to what"
            " `recgpt-stack api-key --admin` prints"
        )
    config = read_yaml(args.config)
    with operators_client(_internal_url(args, settings), key, transport=transport) as client:
        print(f"serving revision {put_config(client, config)}")


def _reweight(args: argparse.Namespace) -> None:
    config = read_yaml(args.config)
    found = config.experiment(args.experiment)
    if found is None:
        raise ValueError(f"no experiment {args.experiment!r} in {args.config}")
    shares = {name: float(share) for name, _, share in (p.partition("=") for p in args.weights.split(","))}
    layers = []
    for layer in config.layers:
        experiments = [reweight(e, shares) if e.id == args.experiment else e for e in layer.experiments]
        layers.append(layer.model_copy(update={"experiments": experiments}))
    changed = config.model_copy(update={"layers": layers})
    check(changed, KNOWN_VARIANTS)
    yaml.safe_dump(changed.model_dump(mode="json"), sys.stdout, sort_keys=False)
    print(new_phase_note(found[1], shares), file=sys.stderr)


def new_phase_note(experiment: Experiment, shares: dict[str, float]) -> str:
    """What storing new weights does to the experiment's report (stderr: stdout is the config)."""
    before = ", ".join(f"{arm.name}={arm.weight:g}" for arm in experiment.arms)
    after = ", ".join(f"{arm.name}={shares[arm.name]:g}" for arm in experiment.arms)
    return (
        f"experiment {experiment.id}: weights {before} -> {after}. Once this config is stored, a new phase"
        " starts: the report then analyses the users first exposed in the new phase, against its weights;"
        " users exposed before stay in the earlier phase's report (`report --phase N`), which ends here."
    )


def _report(
    args: argparse.Namespace, settings: OperatorSettings, transport: httpx.BaseTransport | None
) -> None:
    key = settings.api_key.get_secret_value() or settings.admin_key.get_secret_value()
    if not key:
        raise MissingSetting(
            "neither RECGPT_API_KEY nor RECGPT_ADMIN_KEY is set: run it by `recgpt-stack exec -- ...`"
        )
    url = _internal_url(args, settings)
    params = {} if args.phase is None else {"phase": args.phase}
    with operators_client(url, key, timeout=120, transport=transport) as client:
        response = client.get(f"/v1/experiments/{args.experiment}/report", params=params)
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
    """The report as the terminal shows it: the phase, arms, lifts with intervals, SRM, revenue and CUPED."""
    phase = report["phase"]
    lines = [
        f"experiment {report['experiment']} (layer {report['layer']},"
        f" config revision {report['config_revision']})",
        f"  phase {phase['number']} of {len(report['phases'])}"
        f" ({'current' if phase['current'] else 'ended'}; revisions {phase['first_revision']}"
        f"..{phase['last_revision']}): users first exposed in it, weights "
        + ", ".join(f"{arm}={weight:g}" for arm, weight in phase["weights"].items()),
        f"  read: {report['reading']['read'].replace('_', '-')} ({report['reading']['why']})",
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
                f"  lift {arm} {metric:<28} abs {_num(c['absolute'])}"
                f"  always-valid {_ci(c['sequential_ci'])} p {_num(c['always_valid_p_value'])}"
                f"  fixed-horizon {_ci(c['absolute_ci'])} p {_num(c['p_value'])}"
                f"  rel {_pct(c['relative'])} {_ci(c['relative_ci'], True)}"
            )
    srm = report["srm"]
    lines.append(
        f"  SRM against the phase's weights: chi-square {srm['chi_square']:.3f}, p {srm['p_value']:.4g}"
        f" -> {'MISMATCH' if srm['mismatch'] else 'ok'} (flag at p < 0.001)"
    )
    revenue = report["revenue"]
    lines.append(
        f"  revenue: purchases capped at {_num(revenue['purchase_value_cap'])} each"
        f" ({revenue['purchases_capped']} capped), users' revenue winsorised at the"
        f" {revenue['winsor_quantile']:g} quantile = {_num(revenue['winsor_threshold'])}"
        f" ({revenue['users_winsorised']} users); paid {revenue['volume_paid']},"
        f" analysed {revenue['volume_analysed']}"
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
    if len(report["phases"]) > 1:
        lines.append(
            "  phases: "
            + "; ".join(
                f"{p['number']}: revisions {p['first_revision']}..{p['last_revision']},"
                f" {p['users_first_exposed']} users"
                for p in report["phases"]
            )
        )
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
