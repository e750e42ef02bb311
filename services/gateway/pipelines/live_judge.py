"""Live judge sampling: a share of recgpt-v1 answers is sent to the judge in the background.

The request never waits: the call runs as a task held here (so it is not garbage-collected), bounded in
number (a sample beyond `judge_max_in_flight` is skipped, never queued) and cancelled at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence

import grpc

from gateway.settings import GatewaySettings
from recgpt.common.v1 import common_pb2
from recgpt.judge.v1 import judge_pb2, judge_pb2_grpc
from recgpt_serving import metrics

log = logging.getLogger(__name__)

SOURCE = "live"
# (interest, item, explanation text)
Subject = tuple[str, common_pb2.Item, str]


class LiveJudge:
    def __init__(
        self,
        stub: judge_pb2_grpc.JudgeServiceStub | None,
        settings: GatewaySettings,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.stub = stub
        self.share = settings.judge_sample_share
        self.max_in_flight = settings.judge_max_in_flight
        self.deadline_s = settings.judge_deadline_s
        self.draw = draw
        self.tasks: set[asyncio.Task[None]] = set()
        samples = metrics.LIVE_JUDGE_SAMPLES
        self._not_sampled = samples.labels("not_sampled")
        self._started = samples.labels("started")
        self._busy = samples.labels("skipped_busy")
        self._done = samples.labels("done")
        self._failed = samples.labels("failed")

    def maybe_sample(self, user_id: str, subjects: Sequence[Subject]) -> bool:
        """Starts a background judge call with probability `share`; True when one was started.

        Without a judge or anything to judge there is no sample to count; every other answer is counted,
        sampled or not, so the share actually judged shows beside the configured one."""
        if self.stub is None or not subjects:
            return False
        if self.share <= 0 or self.draw() >= self.share:
            self._not_sampled.inc()
            return False
        if len(self.tasks) >= self.max_in_flight:
            self._busy.inc()
            return False
        request = judge_pb2.JudgeRequest(
            user_id=user_id,
            method=judge_pb2.METHOD_RECGPT_V1,
            source=SOURCE,
            explanations=judge_pb2.Explanations(
                explanations=[
                    judge_pb2.ExplanationSubject(interest=interest, item=item, text=text)
                    for interest, item, text in subjects
                ]
            ),
        )
        task = asyncio.create_task(self._judge(self.stub, request), name="live-judge")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        self._started.inc()
        return True

    async def _judge(self, stub: judge_pb2_grpc.JudgeServiceStub, request: judge_pb2.JudgeRequest) -> None:
        try:
            await stub.Judge(request, timeout=self.deadline_s)
        except (grpc.aio.AioRpcError, TimeoutError) as error:
            self._failed.inc()
            reason = error.code().name if isinstance(error, grpc.aio.AioRpcError) else repr(error)
            log.warning("live judge call failed", extra={"reason": reason})
        else:
            self._done.inc()

    async def close(self) -> None:
        """Cancels the calls still running (shutdown)."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
