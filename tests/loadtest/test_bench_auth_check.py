"""The key-check benchmark runs the gateway's own authenticator on a valid key (a smoke test, no timing)."""

from __future__ import annotations

from loadtest import bench_auth_check


async def test_it_times_both_paths() -> None:
    figures = await bench_auth_check.run(calls=50)
    assert set(figures) == {"auth_on_us", "auth_off_us"}
    assert all(value > 0 for value in figures.values())
