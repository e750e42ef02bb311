"""A rolling restart under load fails no request: two replicas each of retrieval and of the gateway, each
SIGTERMed, restarted and waited for in turn (loadtest/rolling_restart.py). Retrieval is called through the
platform's balanced channel (`ipv4:a,b`), the gateways through a balancer that follows /readyz; a draining
replica keeps answering what still reaches it."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.rolling_restart import CLEAN_EXITS, RollingSettings, drill
from tests.retrieval.catalogue_folder import write_small_catalogue

pytestmark = pytest.mark.integration


async def test_rolling_restarts_of_retrieval_and_gateway_fail_no_request(tmp_path: Path) -> None:
    settings = RollingSettings(
        catalogue_dir=write_small_catalogue(tmp_path / "catalogue"),
        index_dir=tmp_path / "index",
        workdir=tmp_path / "drill",
        drain_s=2.0,
        rate=20,
        probe_s=0.5,
        steady_s=1.0,
        build_index=True,
    )
    reports = await drill(settings)
    assert [report.name for report in reports] == ["retrieval", "gateway"]
    for report in reports:
        # The load ran throughout: requests reached both the draining and the other replica.
        assert report.requests > report.seconds * settings.rate / 2, report
        assert report.failed == 0, report
        assert all(code in CLEAN_EXITS for code in report.exit_codes), report
