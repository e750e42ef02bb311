"""The last-resort page: popular items the gateway keeps for when retrieval cannot be reached.

It is refreshed in the background while retrieval answers (every `last_resort_refresh_s`, and every
`last_resort_retry_s` until a refresh succeeds), never on a request's path. A request whose retrieval routes
all failed answers from it instead of a 503, and says so in `degraded`. It is only a copy: every request
still asks retrieval first, so answers are full again as soon as retrieval answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from gateway.pipelines.calls import GRPC_ERRORS, failure_reason
from gateway.settings import GatewaySettings
from recgpt.common.v1 import common_pb2
from recgpt.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from recgpt_serving import metrics

log = logging.getLogger(__name__)


class LastResortPage:
    def __init__(self, retrieval: retrieval_pb2_grpc.RetrievalServiceStub, settings: GatewaySettings) -> None:
        self.retrieval = retrieval
        self.settings = settings
        # Replaced whole by each refresh, so a request never sees half of one page and half of another.
        self.items: Sequence[common_pb2.ScoredItem] = ()
        self._failing = False
        self._task: asyncio.Task[None] | None = None

    @property
    def held(self) -> bool:
        return bool(self.items)

    async def refresh(self) -> bool:
        """Asks retrieval for the page; True when it answered. A failure keeps the page held so far."""
        request = retrieval_pb2.PopularRequest(top_k=self.settings.last_resort_items)
        try:
            response: retrieval_pb2.PopularResponse = await self.retrieval.Popular(
                request, timeout=self.settings.last_resort_timeout_s
            )
        except GRPC_ERRORS as error:
            if not self._failing:
                # Once per outage, not once per retry.
                log.warning(
                    "cannot refresh the last-resort page, keeping the one held",
                    extra={"reason": failure_reason(error), "items": len(self.items)},
                )
            self._failing = True
            return False
        self.items = list(response.items)
        metrics.LAST_RESORT_ITEMS.set(len(self.items))
        if self._failing:
            log.info("last-resort page refreshed again", extra={"items": len(self.items)})
        self._failing = False
        return True

    async def _run(self) -> None:
        settings = self.settings
        while True:
            refreshed = await self.refresh()
            await asyncio.sleep(settings.last_resort_refresh_s if refreshed else settings.last_resort_retry_s)

    def start(self) -> None:
        """Starts refreshing in the background (the first refresh at once); `close` stops it."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="last-resort-page")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
