"""Every load tool presents its key, and makes admin calls on the operators' listener with the admin key:
checked against a stand-in gateway with both listeners on real sockets."""

from __future__ import annotations

import argparse

from loadtest import bench, bench_gateway
from loadtest.simulator import callers_client
from tests.loadtest.fake_gateway import ADMIN_PATH, fake_gateway


async def test_the_open_loop_sender_presents_the_key_on_every_request() -> None:
    with fake_gateway(api_key="rgk_bench") as fake:
        args = argparse.Namespace(timeout=5.0, ready_timeout=5.0, warmup=0.0)
        bodies = [b'{"user_id": "u", "n": 5}'] * 5

        result = await bench.measure(
            "gateway", f"{fake.access.url}/v1/recommend", bodies, args, 200.0, headers=fake.access.headers
        )

    assert result.outcomes == {"200": 5}
    assert len(result.latencies_by_outcome["200"]) == 5
    # The readiness probe and the five measured requests, all on the callers' listener with the key.
    assert len(fake.seen) == 6
    assert {(seen.listener, seen.authorization) for seen in fake.seen} == {("public", "Bearer rgk_bench")}


def test_the_knee_bench_switches_experiments_on_through_the_operators_listener() -> None:
    with fake_gateway(admin_key="rgk_admin") as fake, bench_gateway.experiments_running(fake.access) as on:
        assert on
        assert len(fake.configs) == 1  # the A/A config, while the block runs

    assert fake.on("public") == []
    assert {seen.authorization for seen in fake.on("internal")} == {"Bearer rgk_admin"}
    assert [(seen.method, seen.path) for seen in fake.on("internal") if seen.method == "PUT"] == [
        ("PUT", ADMIN_PATH),
        ("PUT", ADMIN_PATH),
    ]
    # The config it served before is put back.
    assert fake.configs[-1] == {"layers": []}


async def test_the_simulated_users_present_the_key() -> None:
    with fake_gateway(api_key="rgk_sim") as fake:
        async with callers_client(fake.access) as client:
            response = await client.post("/v1/recommend", json={"user_id": "u", "n": 5})

    assert response.status_code == 200
    assert [(seen.listener, seen.authorization) for seen in fake.seen] == [("public", "Bearer rgk_sim")]
