"""`make demo`: an experiment of baseline against recgpt-v1 on the running platform, driven by the simulator.

1. The experiment is declared, switched off: one simulated round is its pre-period (everyone gets the
   default pipeline; the clicks are the CUPED covariate).
2. It is switched on (start = now, the pre-period the round just run), through the admin API.
3. `--rounds` more rounds; then the report is printed and written as JSON and a self-contained HTML page.
`make demo ARM=recgpt-v2` (`--treatment-variant recgpt-v2`) puts RecGPT-V2 against the baseline instead.

    recgpt-stack exec -- python -m loadtest.demo --dataset data/amazon-scientific --users 400

The simulated users call the callers' listener with the development key (RECGPT_GATEWAY_URL,
RECGPT_API_KEY); the config changes go to the operators' listener with the admin key and the report is read
there (RECGPT_GATEWAY_INTERNAL_URL, RECGPT_ADMIN_KEY): `recgpt-stack exec` sets them all.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from experiments import html_report
from experiments.cli import operators_client, put_config, render_text
from experiments.config import ExperimentConfig
from loadtest.gateway_access import ClientSettings, GatewayAccess
from loadtest.simulator import Simulator, callers_client, load_users, report_tally


def demo_config(
    experiment_id: str,
    start: datetime | None,
    pre_period_s: float,
    control: dict[str, Any],
    treatment: dict[str, Any],
) -> ExperimentConfig:
    return ExperimentConfig.model_validate(
        {
            "layers": [
                {
                    "name": "pipeline",
                    "salt": f"demo-{experiment_id}",
                    "experiments": [
                        {
                            "id": experiment_id,
                            "description": f"{control} against {treatment}, simulated users",
                            "enabled": start is not None,
                            "start": start,
                            "pre_period_days": pre_period_s / 86_400,
                            "control": "control",
                            "arms": [
                                {
                                    "name": "control",
                                    "params": control,
                                    "buckets": [{"start": 0, "end": 5000}],
                                },
                                {
                                    "name": "treatment",
                                    "params": treatment,
                                    "buckets": [{"start": 5000, "end": 10000}],
                                },
                            ],
                        }
                    ],
                }
            ]
        }
    )


async def run(args: argparse.Namespace, access: GatewayAccess) -> None:
    if not access.admin_key:
        raise SystemExit(
            "RECGPT_ADMIN_KEY is not set: run the demo by `recgpt-stack exec -- ...` (make demo)"
        )
    experiment_id = args.experiment or f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    users, category = load_users(args.dataset, args.users, args.seed)
    control = {"variant": args.control_variant, **({"n": args.control_n} if args.control_n else {})}
    treatment = {"variant": args.treatment_variant, **({"n": args.treatment_n} if args.treatment_n else {})}
    # Config changes and the report on the operators' listener (the admin key has every scope).
    with operators_client(access.operators_url(), access.admin_key) as admin:
        put_config(admin, demo_config(experiment_id, None, 0, control, treatment))
        async with callers_client(access) as client:
            simulator = Simulator(client, category, args.category_click, args.page_size, args.seed)
            pre_started = time.time()
            await simulator.run_round(users, args.concurrency)
            pre_period_s = time.time() - pre_started + 1
            print(f"pre-period round: {len(users)} users in {pre_period_s:.0f} s")
            started_config = demo_config(experiment_id, datetime.now(UTC), pre_period_s, control, treatment)
            revision = put_config(admin, started_config)
            print(f"experiment {experiment_id} started (config revision {revision})")
            for index in range(args.rounds):
                started = time.perf_counter()
                await simulator.run_round(users, args.concurrency)
                print(f"round {index + 1}: {len(users)} users in {time.perf_counter() - started:.0f} s")
            report_tally(simulator.tally)
        await asyncio.sleep(1)  # the gateway writes exposures every 100 ms
        report_path = f"/v1/experiments/{experiment_id}/report"
        response = await asyncio.to_thread(admin.get, report_path, timeout=300)
        response.raise_for_status()
    report = response.json()
    print(render_text(report))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(response.text)
    (args.out / "report.html").write_text(html_report.render(report))
    print(f"report written to {args.out / 'report.json'} and {args.out / 'report.html'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", help="the callers' root (default: RECGPT_GATEWAY_URL)")
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--page-size", type=int, default=10, help="0: the arm's n (or the gateway's default)")
    parser.add_argument("--control-variant", default="baseline")
    parser.add_argument("--treatment-variant", default="recgpt-v1")
    parser.add_argument(
        "--control-n", type=int, default=0, help="items per page the control arm sets (0: none)"
    )
    parser.add_argument("--treatment-n", type=int, default=0)
    parser.add_argument("--category-click", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--experiment", default="", help="experiment id (default: demo-<time>)")
    parser.add_argument("--out", type=Path, default=Path("var/demo"))
    args = parser.parse_args()
    try:
        access = ClientSettings().access(args.gateway)
    except ValueError as error:
        parser.error(str(error))
    asyncio.run(run(args, access))


if __name__ == "__main__":
    main()
