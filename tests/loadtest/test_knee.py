"""The knee search steps up, then bisects to the highest rate that holds p99, errors and the asked rate."""

from __future__ import annotations

import pytest

from loadtest.knee import KneeSettings, Measure, Step, search


def _server(capacity: float, client_limit: float = 1e9) -> tuple[Measure, list[float]]:
    """A model server: p99 within target up to `capacity`, and a sender that tops out at `client_limit`."""
    asked: list[float] = []

    async def measure(rate: float) -> Step:
        asked.append(rate)
        p99 = 5.0 if rate <= capacity else 80.0
        return Step(rate, p99, 0, min(rate, client_limit))

    return measure, asked


@pytest.mark.parametrize("capacity", [130.0, 700.0, 1234.0])
async def test_the_knee_is_within_the_resolution_below_capacity(capacity: float) -> None:
    measure, asked = _server(capacity)
    settings = KneeSettings(start_rate=100, growth=1.5, resolution=0.05)
    knee = await search(measure, settings)
    assert knee.rate <= capacity
    assert knee.first_failing is not None and knee.first_failing > capacity
    assert knee.first_failing / knee.rate <= 1.05
    assert len(asked) == len(knee.steps)


async def test_errors_fail_a_step_whatever_the_latency() -> None:
    async def measure(rate: float) -> Step:
        failing = rate > 300
        return Step(rate, 1.0, 1 if failing else 0, rate, {"503": 1} if failing else {})

    knee = await search(measure, KneeSettings(resolution=0.1))
    assert 270 <= knee.rate <= 300
    # The report says what failed each step.
    steps = knee.summary()["steps"]
    assert {step["rate"]: step["error_kinds"] for step in steps if step["errors"]} == {
        step["rate"]: {"503": 1} for step in steps if step["rate"] > 300
    }


async def test_a_sender_that_cannot_keep_up_fails_the_step() -> None:
    measure, _ = _server(capacity=10_000, client_limit=500)
    knee = await search(measure, KneeSettings(resolution=0.1))
    assert knee.rate <= 500 / 0.95


async def test_a_server_failing_the_first_rate_is_searched_downwards() -> None:
    measure, _ = _server(capacity=30)
    knee = await search(measure, KneeSettings(start_rate=100, resolution=0.1))
    assert 27 <= knee.rate <= 30


async def test_no_failure_up_to_the_maximum_leaves_no_failing_rate() -> None:
    measure, _ = _server(capacity=1e9)
    knee = await search(measure, KneeSettings(start_rate=100, max_rate=1000))
    assert knee.first_failing is None
    assert knee.rate == pytest.approx(100 * 1.5**5)


def _stalling_server(capacity: float) -> tuple[Measure, dict[float, int]]:
    """Every rate fails its first try (a stall elsewhere on the machine); later tries hold up to capacity."""
    tries: dict[float, int] = {}

    async def measure(rate: float) -> Step:
        tries[rate] = tries.get(rate, 0) + 1
        p99 = 80.0 if tries[rate] == 1 or rate > capacity else 5.0
        return Step(rate, p99, 0, rate)

    return measure, tries


async def test_a_failing_rate_is_tried_again_before_it_counts() -> None:
    measure, tries = _stalling_server(500)
    knee = await search(measure, KneeSettings(resolution=0.1, retries=1))
    assert 450 <= knee.rate <= 500
    assert all(count == 2 for count in tries.values())
    measure, _ = _stalling_server(500)
    assert (await search(measure, KneeSettings(resolution=0.1, retries=0))).rate < 100
