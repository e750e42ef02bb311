"""Explanations for the returned items, read from the explain service's cache: never an LLM call here."""

from __future__ import annotations

import time
from collections.abc import Sequence

from gateway.pipelines.calls import DEP_EXPLAIN, GRPC_ERRORS, SERVICE, budget, degrade
from gateway.settings import GatewaySettings
from recgpt.explain.v1 import explain_pb2, explain_pb2_grpc
from recgpt_domain.fusion import Candidate
from recgpt_serving import metrics

# A cached text longer than this is cut: the explain service validates, this keeps a page bounded anyway.
MAX_EXPLANATION_CHARS = 500


class Explainer:
    """(interest, item) pairs of the page to cached texts, under a short deadline; no stub: no texts."""

    def __init__(self, stub: explain_pb2_grpc.ExplainServiceStub | None, settings: GatewaySettings) -> None:
        self.stub = stub
        self.settings = settings
        self._timer = metrics.DEPENDENCY_DURATION.labels(SERVICE, DEP_EXPLAIN, "Explain")

    async def texts(
        self, user_id: str, candidates: Sequence[Candidate], deadline: float, degraded: list[str]
    ) -> dict[str, str]:
        """Item id -> explanation for the candidates that carry an interest and have a cached text."""
        pairs = {(c.interest, c.item.item_id): None for c in candidates if c.interest}
        if self.stub is None or not pairs:
            return {}
        request = explain_pb2.ExplainRequest(
            user_id=user_id,
            pairs=[
                explain_pb2.ExplainPair(interest=interest, item_id=item_id) for interest, item_id in pairs
            ],
            method=explain_pb2.METHOD_RECGPT_V1,
            cache_only=True,
        )
        start = time.perf_counter()
        try:
            response: explain_pb2.ExplainResponse = await self.stub.Explain(
                request, timeout=budget(deadline, self.settings.explain_deadline_s)
            )
        except GRPC_ERRORS as error:
            degrade(DEP_EXPLAIN, "Explain", error, degraded)
            return {}
        finally:
            self._timer.observe(time.perf_counter() - start)
        found: dict[str, str] = {}
        for explanation in response.explanations:
            text = explanation.text.strip()
            # Only pairs that were asked for: the answer is another service's output, not trusted blindly.
            if text and (explanation.interest, explanation.item_id) in pairs:
                found.setdefault(explanation.item_id, text[:MAX_EXPLANATION_CHARS])
        return found
