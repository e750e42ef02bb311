"""One user's leave-last-out evaluation through the running services, for the baseline and RecGPT-V1.

Both arms see the same users and the same held-out history. The fusion is the gateway's own `fuse`, so the
fused lists are what serving would rank from the same route results.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import grpc

from evaluation import metrics
from evaluation.clients import EvalStubs
from evaluation.split import Split
from recgpt.common.v1 import common_pb2
from recgpt.explain.v1 import explain_pb2
from recgpt.intent.v1 import intent_pb2
from recgpt.judge.v1 import judge_pb2
from recgpt.retrieval.v1 import retrieval_pb2
from recgpt.tags.v1 import tags_pb2
from recgpt_domain.fusion import RouteItems, fuse
from recgpt_domain.messages import interaction_to_pb
from recgpt_serving.llm.usage import Usage

log = logging.getLogger(__name__)

COLLABORATIVE, CONTENT, TAG = "collaborative", "content", "tag"
FUSED_BASELINE, FUSED_RECGPT = "fused_baseline", "fused_recgpt_v1"
ROUTES = (COLLABORATIVE, CONTENT, TAG, FUSED_BASELINE, FUSED_RECGPT)
SUBJECTS = ("interests", "tags", "explanations")
# Baseline fusion weights: the gateway's defaults (GatewaySettings.collaborative/content_weight).
BASELINE_WEIGHTS = {COLLABORATIVE: 0.6, CONTENT: 0.4}
VERDICTS = {
    judge_pb2.VERDICT_PASS: "pass",
    judge_pb2.VERDICT_FAIL: "fail",
    judge_pb2.VERDICT_UNSPECIFIED: "unspecified",
}


@dataclass(frozen=True)
class EvalOptions:
    k_tags: int = 30
    # Candidates each route returns; the largest K of Recall/NDCG@K.
    top_k: int = 50
    # How many history items seed the content and collaborative routes (the gateway's recent_items).
    recent_items: int = 20
    per_tag_k: int = 10
    beta: float = 0.5
    explain_items: int = 3
    judge: bool = True
    max_interests: int = 0
    llm_deadline_s: float = 300.0
    retrieval_deadline_s: float = 30.0


@dataclass
class UserEval:
    user_id: str
    target_category: str
    # Tag HR@K: "baseline" (most frequent history categories) and "recgpt_v1" (the predicted tags').
    tag_hits: dict[str, float]
    # Route -> ranked item ids (top_k).
    ranked: dict[str, list[str]]
    target: str
    interests_fallback: bool
    tags_fallback: bool
    model: str
    # (item id, text) of each explanation written for this user.
    explanations: list[tuple[str, str]] = field(default_factory=list)
    verdicts: dict[str, Counter[str]] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    judge_usage: Usage = field(default_factory=Usage)
    explain_failed: bool = False
    # Explanations the explain service wrote from its template because the LLM's text was unusable.
    explanation_fallbacks: int = 0
    judge_failures: int = 0


class Evaluator:
    """Runs one user through every route and agent; `served` is the served catalogue's items by id."""

    def __init__(self, stubs: EvalStubs, options: EvalOptions, served: Mapping[str, common_pb2.Item]) -> None:
        self.stubs = stubs
        self.options = options
        self.served = served

    def service_user_id(self, split: Split) -> str:
        """A namespaced id, so that no service mixes in a served user's log or profile of the same id."""
        return f"eval:{split.user_id}"

    async def evaluate(self, split: Split) -> UserEval:
        """Raises grpc.aio.AioRpcError when intent, tags or retrieval fail (the user is then left out)."""
        user_id = self.service_user_id(split)
        history = [i for i in split.history if i.item_id in self.served]
        behaviour = [interaction_to_pb(i) for i in history]
        recent = list(dict.fromkeys(i.item_id for i in reversed(history)))
        exclude = list(dict.fromkeys(split.history_ids))
        usage = Usage()
        collaborative, content, mined = await asyncio.gather(
            self._collaborative(user_id, recent[: self.options.recent_items], exclude),
            self._content(recent[: self.options.recent_items], exclude),
            self._interests(user_id, behaviour),
        )
        usage.add(mined.usage)
        predicted = await self._tags(user_id, mined.interests, behaviour)
        usage.add(predicted.usage)
        tag_route = await self._tag_route(predicted.tags, exclude)
        ranked = self._ranked(collaborative, content, tag_route, set(exclude))
        target_category = _category(self.served[split.target.item_id])
        history_categories = [_category(self.served[item_id]) for item_id in recent]
        predicted_categories = {tag.category for tag in predicted.tags[: self.options.k_tags] if tag.category}
        result = UserEval(
            user_id=split.user_id,
            target=split.target.item_id,
            target_category=target_category,
            tag_hits={
                "baseline": metrics.hit_rate(
                    metrics.most_frequent(history_categories, self.options.k_tags), target_category
                ),
                "recgpt_v1": metrics.hit_rate(predicted_categories, target_category),
            },
            ranked=ranked,
            interests_fallback=mined.fallback,
            tags_fallback=predicted.fallback,
            model=mined.provenance.model or predicted.provenance.model,
            usage=usage,
        )
        explained = await self._explain(user_id, ranked[FUSED_RECGPT], tag_route, result)
        if self.options.judge:
            await self._judge(user_id, behaviour, mined.interests, predicted.tags, explained, result)
        return result

    async def _collaborative(
        self, user_id: str, seeds: list[str], exclude: list[str]
    ) -> list[common_pb2.ScoredItem]:
        if not seeds:
            return []
        reply = await self.stubs.retrieval.Collaborative(
            retrieval_pb2.CollaborativeRequest(
                user_id=user_id, top_k=self.options.top_k, seed_item_ids=seeds, exclude_item_ids=exclude
            ),
            timeout=self.options.retrieval_deadline_s,
        )
        return list(reply.items)

    async def _content(self, seeds: list[str], exclude: list[str]) -> list[common_pb2.ScoredItem]:
        if not seeds:
            return []
        reply = await self.stubs.retrieval.Search(
            retrieval_pb2.SearchRequest(
                items=retrieval_pb2.ItemQueries(item_ids=seeds),
                top_k=self.options.top_k,
                exclude_item_ids=exclude,
            ),
            timeout=self.options.retrieval_deadline_s,
        )
        return list(reply.items)

    async def _tag_route(
        self, tags: Sequence[common_pb2.Tag], exclude: list[str]
    ) -> list[common_pb2.ScoredItem]:
        if not tags:
            return []
        reply = await self.stubs.retrieval.Search(
            retrieval_pb2.SearchRequest(
                tags=retrieval_pb2.TagQueries(tags=tags[: self.options.k_tags]),
                top_k=self.options.top_k,
                per_query_top_k=self.options.per_tag_k,
                exclude_item_ids=exclude,
            ),
            timeout=self.options.retrieval_deadline_s,
        )
        return list(reply.items)

    async def _interests(
        self, user_id: str, behaviour: list[common_pb2.Interaction]
    ) -> intent_pb2.MineInterestsResponse:
        reply: intent_pb2.MineInterestsResponse = await self.stubs.intent.MineInterests(
            intent_pb2.MineInterestsRequest(
                user_id=user_id,
                method=intent_pb2.METHOD_RECGPT_V1,
                behaviour=behaviour,
                max_interests=self.options.max_interests,
            ),
            timeout=self.options.llm_deadline_s,
        )
        return reply

    async def _tags(
        self,
        user_id: str,
        interests: Sequence[common_pb2.Interest],
        behaviour: list[common_pb2.Interaction],
    ) -> tags_pb2.PredictTagsResponse:
        reply: tags_pb2.PredictTagsResponse = await self.stubs.tags.PredictTags(
            tags_pb2.PredictTagsRequest(
                user_id=user_id, interests=interests, behaviour=behaviour, max_tags=self.options.k_tags
            ),
            timeout=self.options.llm_deadline_s,
        )
        return reply

    def _ranked(
        self,
        collaborative: list[common_pb2.ScoredItem],
        content: list[common_pb2.ScoredItem],
        tag_route: list[common_pb2.ScoredItem],
        exclude: set[str],
    ) -> dict[str, list[str]]:
        top_k, beta = self.options.top_k, self.options.beta
        baseline = fuse(
            [
                RouteItems(COLLABORATIVE, BASELINE_WEIGHTS[COLLABORATIVE], collaborative),
                RouteItems(CONTENT, BASELINE_WEIGHTS[CONTENT], content),
            ],
            exclude,
        )
        recgpt = fuse(
            [RouteItems(COLLABORATIVE, beta, collaborative), RouteItems(TAG, 1.0 - beta, tag_route)], exclude
        )
        return {
            COLLABORATIVE: _ids(collaborative)[:top_k],
            CONTENT: _ids(content)[:top_k],
            TAG: _ids(tag_route)[:top_k],
            FUSED_BASELINE: [candidate.item.item_id for candidate in baseline[:top_k]],
            FUSED_RECGPT: [candidate.item.item_id for candidate in recgpt[:top_k]],
        }

    async def _explain(
        self,
        user_id: str,
        fused: list[str],
        tag_route: list[common_pb2.ScoredItem],
        result: UserEval,
    ) -> list[explain_pb2.Explanation]:
        """Explanations of the top fused RecGPT-V1 items with an interest (those the tag route brought)."""
        interest_of = {s.item.item_id: s.interest for s in tag_route if s.interest}
        chosen = [item_id for item_id in fused if item_id in interest_of][: self.options.explain_items]
        if not chosen:
            return []
        pairs = [explain_pb2.ExplainPair(interest=interest_of[i], item_id=i) for i in chosen]
        try:
            reply = await self.stubs.explain.Explain(
                explain_pb2.ExplainRequest(
                    user_id=user_id, pairs=pairs, method=explain_pb2.METHOD_RECGPT_V1, cache_only=False
                ),
                timeout=self.options.llm_deadline_s,
            )
        except grpc.aio.AioRpcError as error:
            log.warning("explain failed", extra={"user_id": user_id, "code": error.code().name})
            result.explain_failed = True
            return []
        result.usage.add(reply.usage)
        result.explanations = [(e.item_id, e.text) for e in reply.explanations if e.text]
        result.explanation_fallbacks = sum(e.fallback for e in reply.explanations)
        return list(reply.explanations)

    async def _judge(
        self,
        user_id: str,
        behaviour: list[common_pb2.Interaction],
        interests: Sequence[common_pb2.Interest],
        tags: Sequence[common_pb2.Tag],
        explanations: list[explain_pb2.Explanation],
        result: UserEval,
    ) -> None:
        """Judges the three artefacts concurrently; a failed judge call is counted, not fatal."""
        requests: dict[str, judge_pb2.JudgeRequest] = {}

        def request() -> judge_pb2.JudgeRequest:
            return judge_pb2.JudgeRequest(
                user_id=user_id, method=judge_pb2.METHOD_RECGPT_V1, behaviour=behaviour, source="offline"
            )

        if interests:
            requests["interests"] = request()
            requests["interests"].interests.interests.extend(interests)
        if tags:
            requests["tags"] = request()
            requests["tags"].tags.tags.extend(tags[: self.options.k_tags])
        if explanations:
            requests["explanations"] = request()
            requests["explanations"].explanations.explanations.extend(
                judge_pb2.ExplanationSubject(
                    interest=e.interest, item=self.served.get(e.item_id), text=e.text
                )
                for e in explanations
            )
        replies = await asyncio.gather(
            *(self.stubs.judge.Judge(r, timeout=self.options.llm_deadline_s) for r in requests.values()),
            return_exceptions=True,
        )
        for name, reply in zip(requests, replies, strict=True):
            if isinstance(reply, grpc.aio.AioRpcError):
                log.warning("judge failed", extra={"user_id": user_id, "subject": name})
                result.judge_failures += 1
                continue
            if isinstance(reply, BaseException):
                raise reply
            result.judge_usage.add(reply.usage)
            result.verdicts[name] = Counter(VERDICTS.get(j.verdict, "other") for j in reply.judgements)


def _ids(items: Sequence[common_pb2.ScoredItem]) -> list[str]:
    return [scored.item.item_id for scored in items if scored.item.item_id]


def _category(item: common_pb2.Item) -> str:
    return item.category_path[-1] if item.category_path else ""
