"""No single dependency takes the gateway down: Redis hung (SIGSTOP), Redis killed and the retrieval process
killed, each under load, with the real processes (loadtest/outage.py). Every request is answered, none
with a 5xx, the answers name what they lack, and full answers return by themselves once the dependency does.
The times are measured and printed by `python loadtest/outage.py`, not asserted here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.outage import DrillSettings, OutageDrill, ScenarioReport
from tests.retrieval.catalogue_folder import write_small_catalogue

pytestmark = pytest.mark.integration


def assert_weathered(report: ScenarioReport, expected_names: set[str]) -> None:
    assert report.server_errors == 0, report.summary()
    assert report.unanswered == 0, report.summary()
    # The outage was felt, and said: the answers name what they lacked.
    assert report.degraded > 0, report.summary()
    assert expected_names <= set(report.degraded_names), report.summary()
    assert report.full_again_s is not None, report.summary()


async def test_outages_under_load_are_answered_and_full_answers_return(tmp_path: Path) -> None:
    settings = DrillSettings(
        catalogue_dir=write_small_catalogue(tmp_path / "catalogue"),
        index_dir=tmp_path / "index",
        workdir=tmp_path / "drill",
        rate=20,
        outage_s=2,
        settle=20,
        recovery_limit_s=120,
        build_index=True,
    )
    async with OutageDrill(settings) as drill:
        # The baseline's behaviour is read by retrieval (redis.behaviour), the profile by the gateway.
        assert_weathered(await drill.redis_hung(), {"redis.behaviour", "redis.profile"})
        assert_weathered(await drill.redis_down(), {"redis.behaviour", "redis.profile"})
        assert_weathered(await drill.retrieval_down(), {"retrieval", "retrieval.collaborative"})
