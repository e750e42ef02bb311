"""`recgpt-experiments put` and `report` call the gateway's operators' listener with the keys
`recgpt-stack exec` hands over: the admin key for a config, a key that reads reports for a report."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from experiments import cli
from experiments.cli import OperatorSettings

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
