"""One simulated user through the running platform: reset, up to five commands, a check of every page."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx

from evaluation.feed.constraints import violations
from evaluation.feed.llm_user import LlmUser
from evaluation.feed.simulator import TemplatedUser
from evaluation.split import Split
from recgpt.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from recgpt_domain.catalogue import Item
from recgpt_domain.preferences import Preferences
from recgpt_serving.llm.client import LlmClient

MAX_ROUNDS = 5
PAGE = 10
FIRST_PAGE = 50
MISS_ROUNDS = MAX_ROUNDS + 1
VARIANTS = ("baseline", "recgpt-v1")


@dataclass
class UserOutcome:
    user_id: str
    target: str
    rounds: int = MISS_ROUNDS
    hit_at_10: bool = False
    hit_at_50: bool = False
    baseline_hit_at_10: bool = False
    baseline_hit_at_50: bool = False
    pages: int = 0
    items_checked: int = 0
    violations: list[str] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)
    timings: list[dict[str, float]] = field(default_factory=list)
    parts: list[dict[str, str]] = field(default_factory=list)
    llm_statuses: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # /v1/recommend pages that said the preferences could not be applied (redis.preferences, retrieval.tools).
    recommend_pages_unapplied: int = 0
    trajectory: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FeedEvaluator:
    http: httpx.AsyncClient
    retrieval: retrieval_pb2_grpc.RetrievalServiceStub
    items: Mapping[str, Item]
    ratings: Mapping[str, float]
    # An offline figure, not a latency target: room for a loaded machine.
    retrieval_deadline_s: float = 10.0
    # When set, the LLM-driven simulated user writes the commands.
    llm: LlmClient | None = None
    llm_commands: int = 0
    llm_commands_replaced: int = 0

    def _check(self, outcome: UserOutcome, ids: list[str], preferences: Preferences, where: str) -> None:
        outcome.pages += 1
        for item_id in ids:
            item = self.items.get(item_id)
            if item is None:
                continue
            outcome.items_checked += 1
            for broken in violations(item, preferences, self.ratings.get(item_id)):
                outcome.violations.append(f"{where}: {item_id} {broken}")

    async def _baseline(self, split: Split, text: str) -> list[str]:
        """Plain embedding search of the command text, the user's seen items left out."""
        response = await self.retrieval.Search(
            retrieval_pb2.SearchRequest(
                texts=retrieval_pb2.TextQueries(texts=[text]),
                top_k=FIRST_PAGE,
                exclude_seen_of_user=split.user_id,
            ),
            timeout=self.retrieval_deadline_s,
        )
        return [scored.item.item_id for scored in response.items]

    async def evaluate(self, split: Split) -> UserOutcome:
        target = split.target.item_id
        outcome = UserOutcome(split.user_id, target)
        templated = TemplatedUser(self.items[target], self.ratings.get(target))
        llm_user = LlmUser(self.llm, templated) if self.llm is not None else None
        reset = await self.http.delete("/v1/feed/preferences", params={"user_id": split.user_id})
        if reset.status_code != 200:
            outcome.errors.append(f"reset: {reset.status_code} {reset.text[:200]}")
            return outcome
        page: list[str] = []
        for round_number in range(1, MAX_ROUNDS + 1):
            shown = [self.items[i] for i in page if i in self.items]
            if llm_user is not None:
                text = await llm_user.command(round_number, shown)
            else:
                text = templated.command(round_number, shown)
            state = {"feed": page, "preferences_before": None}
            size = FIRST_PAGE if round_number == 1 else PAGE
            started = time.perf_counter()
            answer = await self.http.post(
                "/v1/feed/command",
                json={"user_id": split.user_id, "text": text, "feed_item_ids": page, "n": size},
            )
            outcome.latencies_s.append(time.perf_counter() - started)
            if answer.status_code != 200:
                outcome.errors.append(f"round {round_number}: {answer.status_code} {answer.text[:200]}")
                return outcome
            body = answer.json()
            ids = [item["item_id"] for item in body["items"]]
            preferences = Preferences.model_validate(body["preferences"])
            self._check(outcome, ids, preferences, f"round {round_number}")
            outcome.timings.append(body["timings"])
            outcome.parts.extend(body["parts"])
            outcome.llm_statuses.append(body["llm_status"])
            if round_number == 1:
                outcome.hit_at_10 = target in ids[:PAGE]
                outcome.hit_at_50 = target in ids[:FIRST_PAGE]
                try:
                    baseline = await self._baseline(split, text)
                except grpc.aio.AioRpcError as error:
                    # The user leaves every figure (counted as with errors), not the whole run.
                    outcome.errors.append(f"embedding search: {error.code().name} {error.details()}")
                    return outcome
                outcome.baseline_hit_at_10 = target in baseline[:PAGE]
                outcome.baseline_hit_at_50 = target in baseline[:FIRST_PAGE]
            page = ids[:PAGE]
            hit = target in page
            outcome.trajectory.append(
                {
                    "user_id": split.user_id,
                    "round": round_number,
                    "state": state,
                    "command": text,
                    "parsed": {"parts": body["parts"], "llm_status": body["llm_status"]},
                    "preferences": body["preferences"],
                    "plan": body["plan"],
                    "page": page,
                    "outcome": {
                        "target_in_top_10": hit,
                        "rank": ids.index(target) + 1 if target in ids else None,
                    },
                }
            )
            if hit:
                outcome.rounds = round_number
                break
        await self._recommend_pages(outcome, split.user_id)
        if llm_user is not None:
            self.llm_commands += llm_user.written
            self.llm_commands_replaced += llm_user.replaced
        return outcome

    async def _recommend_pages(self, outcome: UserOutcome, user_id: str) -> None:
        """/v1/recommend must honour the preferences in force in every variant."""
        stored = await self.http.get("/v1/feed/preferences", params={"user_id": user_id})
        if stored.status_code != 200:
            outcome.errors.append(f"preferences: {stored.status_code}")
            return
        preferences = Preferences.model_validate(stored.json()["preferences"])
        for variant in VARIANTS:
            answer = await self.http.post(
                "/v1/recommend", json={"user_id": user_id, "n": PAGE, "variant": variant}
            )
            if answer.status_code != 200:
                outcome.errors.append(f"recommend {variant}: {answer.status_code}")
                continue
            body = answer.json()
            if {"redis.preferences", "retrieval.tools"} & set(body["degraded"]):
                outcome.recommend_pages_unapplied += 1
            ids = [item["item_id"] for item in body["items"]]
            self._check(outcome, ids, preferences, f"recommend {variant}")
