"""The drain state machine: the first stop signal starts a window during which probes fail and requests are
still served; the window's end, or a second signal, moves on to stopping."""

from __future__ import annotations

import asyncio
import time

import pytest

from recgpt_serving.drain import Drain, Phase


async def test_serving_until_the_first_signal() -> None:
    drain = Drain(10)
    waiting = asyncio.create_task(drain.signalled())
    await asyncio.sleep(0.05)
    assert (drain.phase, drain.draining, waiting.done()) == (Phase.SERVING, False, False)
    drain.signal()
    await asyncio.wait_for(waiting, 1)
    assert (drain.phase, drain.draining) == (Phase.DRAINING, True)


async def test_the_window_lasts_its_length_after_the_first_signal() -> None:
    drain = Drain(0.3)
    drain.signal()
    started = time.monotonic()
    await asyncio.wait_for(drain.window(), 5)
    assert time.monotonic() - started >= 0.29
    assert (drain.phase, drain.draining) == (Phase.STOPPING, True)


async def test_a_second_signal_ends_the_window_at_once() -> None:
    drain = Drain(60)
    drain.signal()
    window = asyncio.create_task(drain.window())
    await asyncio.sleep(0.05)
    phases = [drain.phase]
    assert not window.done()
    drain.signal()
    await asyncio.wait_for(window, 1)
    phases.append(drain.phase)
    assert phases == [Phase.DRAINING, Phase.STOPPING]


async def test_a_zero_window_stops_at_the_first_signal() -> None:
    drain = Drain(0)
    drain.signal()
    await asyncio.wait_for(drain.window(), 1)
    assert drain.phase is Phase.STOPPING


def test_a_negative_window_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        Drain(-1)
