"""Explanations for the returned items, read from the explain service's cache: never an LLM call here.

`Explainer` reads RecGPT-V1's texts. `SituatedExplainer`, the `recgpt-v2` pipeline's, reads the meta-prompted
texts the V2 near-line job writes (`nearline.refresh_v2`) for the request's moment (season, time of day) and
each tag's persona, then V1's texts for the items it found none for, so that a V2 page is never emptier than
a V1 page; which one served is counted in `recgpt_explanations_served_total`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence

from gateway.pipelines.calls import DEP_EXPLAIN, GRPC_ERRORS, SERVICE, budget, degrade
from gateway.settings import GatewaySettings
from recgpt.explain.v1 import explain_pb2, explain_pb2_grpc
from recgpt_domain.fusion import Candidate
from recgpt_domain.profile_store import UserProfile
from recgpt_domain.situation import Situation, tag_persona
from recgpt_serving import metrics

# A cached text longer than this is cut: the explain service validates, this keeps a page bounded anyway.
MAX_EXPLANATION_CHARS = 500
# What served a page item's explanation (`recgpt_explanations_served_total{method}`).
SERVED_V2, SERVED_V1_NEXT_BEST, SERVED_NONE = "recgpt_v2", "recgpt_v1_next_best", "none"

# (interest, item id)
Pair = tuple[str, str]


class Explainer:
    """(interest, item) pairs of the page to cached texts, under a short deadline; no stub: no texts."""

    def __init__(self, stub: explain_pb2_grpc.ExplainServiceStub | None, settings: GatewaySettings) -> None:
        self.stub = stub
        self.settings = settings
        self._timer = metrics.DEPENDENCY_DURATION.labels(SERVICE, DEP_EXPLAIN, "Explain")

    async def texts(
        self,
        user_id: str,
        candidates: Sequence[Candidate],
        deadline: float,
        degraded: list[str],
        profile: UserProfile | None = None,
    ) -> dict[str, str]:
        """Item id -> explanation for the candidates that carry an interest and have a cached text. `profile`
        (the one served) matters to the situated reader only."""
        pairs = _pairs(candidates)
        if self.stub is None or not pairs:
            return {}
        found = await self._read(
            self.stub, user_id, pairs, explain_pb2.METHOD_RECGPT_V1, {}, deadline, degraded
        )
        return found or {}

    async def _read(
        self,
        stub: explain_pb2_grpc.ExplainServiceStub,
        user_id: str,
        pairs: Sequence[Pair],
        method: explain_pb2.Method,
        situation: Mapping[str, str],
        deadline: float,
        degraded: list[str],
    ) -> dict[str, str] | None:
        """One cache-only call: item id -> text for the pairs the cache holds; None when the call failed (then
        named in `degraded`)."""
        request = explain_pb2.ExplainRequest(
            user_id=user_id,
            pairs=[
                explain_pb2.ExplainPair(interest=interest, item_id=item_id) for interest, item_id in pairs
            ],
            method=method,
            situation=situation,
            cache_only=True,
        )
        start = time.perf_counter()
        try:
            response: explain_pb2.ExplainResponse = await stub.Explain(
                request, timeout=budget(deadline, self.settings.explain_deadline_s)
            )
        except GRPC_ERRORS as error:
            degrade(DEP_EXPLAIN, "Explain", error, degraded)
            return None
        finally:
            self._timer.observe(time.perf_counter() - start)
        asked = set(pairs)
        found: dict[str, str] = {}
        for explanation in response.explanations:
            text = explanation.text.strip()
            # Only pairs that were asked for: the answer is another service's output, not trusted blindly.
            if text and (explanation.interest, explanation.item_id) in asked:
                found.setdefault(explanation.item_id, text[:MAX_EXPLANATION_CHARS])
        return found


class SituatedExplainer(Explainer):
    """RecGPT-V2's reader: the meta-prompted texts for the request's situation, V1's as the next-best.

    The situation is the one the near-line job writes for (`Situation.at_unix` of the clock, the persona by
    `tag_persona` of the served profile), so that the keys match; a request carries one situation, hence one
    V2 read per persona on the page (a handful), all at once. The next-best read is one more call, for the
    misses only, within the same explanation budget.
    """

    def __init__(
        self,
        stub: explain_pb2_grpc.ExplainServiceStub | None,
        settings: GatewaySettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(stub, settings)
        self.clock = clock
        self._served = {
            source: metrics.EXPLANATIONS_SERVED.labels(source)
            for source in (SERVED_V2, SERVED_V1_NEXT_BEST, SERVED_NONE)
        }

    async def texts(
        self,
        user_id: str,
        candidates: Sequence[Candidate],
        deadline: float,
        degraded: list[str],
        profile: UserProfile | None = None,
    ) -> dict[str, str]:
        pairs = _pairs(candidates)
        if self.stub is None or not pairs:
            return {}
        stub = self.stub
        # Both reads share one explanation budget: the next-best read does not lengthen the page's wait.
        deadline = min(deadline, asyncio.get_running_loop().time() + self.settings.explain_deadline_s)
        now = self.clock()
        by_persona: dict[str, list[Pair]] = {}
        for pair in pairs:
            persona = tag_persona(profile, pair[0]) if profile is not None else ""
            by_persona.setdefault(persona, []).append(pair)
        reads = await asyncio.gather(
            *(
                self._read(
                    stub,
                    user_id,
                    group,
                    explain_pb2.METHOD_RECGPT_V2,
                    Situation.at_unix(now, persona).as_map(),
                    deadline,
                    degraded,
                )
                for persona, group in by_persona.items()
            )
        )
        found = {item_id: text for read in reads if read for item_id, text in read.items()}
        missing = [pair for pair in pairs if pair[1] not in found]
        next_best: dict[str, str] = {}
        # A failed V2 read means a failing service or a spent budget, already named in `degraded`: a second
        # call would fail alike and count the same degradation twice.
        if missing and all(read is not None for read in reads):
            next_best = (
                await self._read(stub, user_id, missing, explain_pb2.METHOD_RECGPT_V1, {}, deadline, degraded)
                or {}
            )
        self._served[SERVED_V2].inc(len(found))
        self._served[SERVED_V1_NEXT_BEST].inc(len(next_best))
        self._served[SERVED_NONE].inc(len(missing) - len(next_best))
        return found | next_best


def _pairs(candidates: Sequence[Candidate]) -> list[Pair]:
    """The (interest, item id) pairs of the candidates that carry an interest, each once, in page order."""
    return list(dict.fromkeys((c.interest, c.item.item_id) for c in candidates if c.interest))
