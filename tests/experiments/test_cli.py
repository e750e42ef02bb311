"""`recgpt-experiments put` and `report` call the gateway's operators' listener with the keys
`recgpt-stack exec` hands over: the admin key for a config, a key that reads reports for a report."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from experiments import cli
from experiments.cli import OperatorSettings
from tests.experiments.report_fixture import sample_report

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "experiments.yaml"
INTERNAL = "http://127.0.0.1:8081"


def _settings(admin_key: str = "rgk_admin", api_key: str = "rgk_dev") -> OperatorSettings:
    return OperatorSettings(
        gateway_internal_url=INTERNAL, admin_key=SecretStr(admin_key), api_key=SecretStr(api_key)
    )


def _recording(answer: httpx.Response) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer

    return httpx.MockTransport(handle), seen


def test_put_sends_the_config_to_the_operators_listener_with_the_admin_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    transport, seen = _recording(httpx.Response(200, json={"revision": 7}))

    cli.main(["put", str(CONFIG)], settings=_settings(), transport=transport)

    assert [(r.method, str(r.url), r.headers["authorization"]) for r in seen] == [
        ("PUT", f"{INTERNAL}/v1/admin/experiments", "Bearer rgk_admin")
    ]
    assert "serving revision 7" in capsys.readouterr().out


def test_put_without_the_admin_key_says_how_to_get_it() -> None:
    transport, seen = _recording(httpx.Response(200, json={"revision": 1}))

    with pytest.raises(SystemExit, match="RECGPT_ADMIN_KEY"):
        cli.main(["put", str(CONFIG)], settings=_settings(admin_key=""), transport=transport)
    assert seen == []


def test_report_reads_the_operators_listener_with_the_development_key() -> None:
    transport, seen = _recording(httpx.Response(404, json={"detail": "no experiment"}))

    with pytest.raises(SystemExit, match="no report"):
        cli.main(
            ["report", "v1-vs-baseline", "--internal-url", "http://ops:9000/"],
            settings=_settings(),
            transport=transport,
        )

    assert [(str(r.url), r.headers["authorization"]) for r in seen] == [
        ("http://ops:9000/v1/experiments/v1-vs-baseline/report", "Bearer rgk_dev")
    ]


def test_reweight_prints_the_config_and_says_a_new_phase_starts(capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(
        ["reweight", str(CONFIG), "--experiment", "v1-vs-baseline", "--weights", "control=0.3,treatment=0.7"]
    )

    out, err = capsys.readouterr()
    assert "buckets" in out and "new phase" not in out
    assert "control=0.5, treatment=0.5 -> control=0.3, treatment=0.7" in err
    assert "a new phase starts" in err and "--phase" in err


def test_report_asks_for_a_phase_and_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    transport, seen = _recording(httpx.Response(200, json=sample_report()))

    cli.main(["report", "demo", "--phase", "1"], settings=_settings(), transport=transport)

    assert str(seen[0].url) == f"{INTERNAL}/v1/experiments/demo/report?phase=1"
    out = capsys.readouterr().out
    assert "phase 1 of 1 (current" in out and "read: always-valid" in out
    assert "SRM against the phase's weights" in out and "winsorised at the 0.99 quantile" in out
