"""How a process stops under Kubernetes: probes fail first, requests are still served, then it closes.

A pod that is being stopped is taken out of its Service's endpoints and gets SIGTERM at about the same
moment; load balancers, kube-proxy and clients' DNS learn of it a few seconds later. A process that stopped
accepting at SIGTERM would refuse the calls still routed to it in those seconds. So the first stop signal
starts a drain window: readiness and gRPC health say NOT_SERVING while in-flight and new requests are
served; when the window ends (or a second signal cuts it short) the server stops accepting and gives
in-flight requests their grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum


class Phase(enum.StrEnum):
    SERVING = "serving"
    # Probes fail; requests are still served.
    DRAINING = "draining"
    # No new requests; in-flight ones finish within the grace.
    STOPPING = "stopping"


class Drain:
    """SERVING → DRAINING at the first stop signal → STOPPING after `window_s`, or at a second signal."""

    def __init__(self, window_s: float) -> None:
        if window_s < 0:
            raise ValueError(f"the drain window must not be negative, got {window_s}")
        self.window_s = window_s
        self.phase = Phase.SERVING
        self._signalled = asyncio.Event()
        self._cut_short = asyncio.Event()

    @property
    def draining(self) -> bool:
        """Whether probes should fail: a stop was asked for."""
        return self.phase is not Phase.SERVING

    def signal(self) -> None:
        """A stop signal: the first starts the window, the next one ends it at once."""
        if self.phase is Phase.SERVING:
            self.phase = Phase.DRAINING
            self._signalled.set()
        else:
            self._cut_short.set()

    async def signalled(self) -> None:
        """Returns once the first stop signal came."""
        await self._signalled.wait()

    async def window(self) -> None:
        """Waits out the drain window (from the first signal) and moves to STOPPING."""
        await self._signalled.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._cut_short.wait(), self.window_s)
        self.phase = Phase.STOPPING
