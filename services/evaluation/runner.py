"""One user's leave-last-out evaluation through the running services, for the baseline and RecGPT-V1.

Both arms see the same users and the same held-out history, and each is ranked as serving ranks it: the
profile is built from the agents' answers as the near-line job builds it, its tags are the tag route's
queries as the gateway makes them, and the routes are fused by the shared `fuse` with the served settings.
Whether the LLM or a fallback answered is kept per user (the profile) and per artefact (each explanation),
so that every LLM figure can be reported apart from the fallbacks'.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import grpc

from evaluation import metrics
from evaluation.split import Split
from evaluation.tag_baselines import frequent_then_transitions
from recgpt.common.v1 import common_pb2
from recgpt.explain.v1 import explain_pb2
from recgpt.intent.v1 import intent_pb2
from recgpt.judge.v1 import judge_pb2
from recgpt.retrieval.v1 import retrieval_pb2
from recgpt.tags.v1 import tags_pb2
from recgpt_domain.category_transitions import CategoryTransitions, topped_up
from recgpt_domain.fusion import Candidate, RouteItems, fuse, over_baseline
from recgpt_domain.messages import interaction_to_pb
from recgpt_domain.profile_answers import INTERESTS, TAGS, profile_from_answers
from recgpt_domain.ranking_settings import RankingSettings
from recgpt_domain.tag_route import tag_queries
from recgpt_serving.llm.usage import Usage
from recgpt_serving.service_stubs import ServiceStubsWithJudge

log = logging.getLogger(__name__)

# collaborative: co-occurrence; learned: the towers' route, when retrieval serves an artefact.
COLLABORATIVE, CONTENT, TAG, LEARNED = "collaborative", "content", "tag", "learned"
FUSED_BASELINE, FUSED_RECGPT = "fused_baseline", "fused_recgpt_v1"
ROUTES = (COLLABORATIVE, LEARNED, CONTENT, TAG, FUSED_BASELINE, FUSED_RECGPT)
SUBJECTS = ("interests", "tags", "explanations")
# Who produced an answer: the LLM, or an agent's non-LLM fallback.
LLM, FALLBACK = "llm", "fallback"
SOURCES = (LLM, FALLBACK)
# The tag HR@K arms, non-LLM baselines first.
TAG_ARMS = ("baseline", "frequent_transitions", "recgpt_v1", "recgpt_v1_topped_up")
VERDICTS = {
    judge_pb2.VERDICT_PASS: "pass",
    judge_pb2.VERDICT_FAIL: "fail",
    judge_pb2.VERDICT_UNSPECIFIED: "unspecified",
}


def source(fallback: bool) -> str:
    return FALLBACK if fallback else LLM


@dataclass(frozen=True)
class EvalOptions:
    # How serving ranks: the same settings class the gateway and the near-line job read.
    ranking: RankingSettings
    # Top fused RecGPT-V1 items explained per user, and whether the judge rates the artefacts.
    explain_items: int
    judge: bool
    llm_deadline_s: float
    retrieval_deadline_s: float
    # Candidates each route returns; the largest K of Recall/NDCG@K.
    top_k: int = 50


@dataclass(frozen=True)
class Explained:
    item_id: str
    text: str
    # Written from the explain service's template because the LLM's text was unusable.
    fallback: bool


@dataclass
class UserEval:
    user_id: str
    target: str
    target_category: str
    # "llm" when the LLM answered both the interests and the tags of the user's profile, else "fallback".
    profile_source: str
    # The profile's parts a fallback answered, e.g. ["tags"].
    fallback_parts: list[str]
    # Tag HR@K: "baseline" (most frequent history categories), "frequent_transitions" (those, then the
    # categories that follow the last one in training users' sequences), "recgpt_v1" (the served tags') and
    # "recgpt_v1_topped_up" (the served tags' categories, then frequent + transitions).
    tag_hits: dict[str, float]
    # Tags the tag route searched (the profile's, de-duplicated, at most K).
    tags_searched: int
    # Route -> ranked item ids (top_k).
    ranked: dict[str, list[str]]
    model: str
    explanations: list[Explained] = field(default_factory=list)
    # Subject -> source of the judged artefact ("llm" / "fallback") -> verdict counts.
    verdicts: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    judge_usage: Usage = field(default_factory=Usage)
    explain_failed: bool = False
    judge_failures: int = 0
    # Agent -> the LoRA adapter its answers for this user came from ("" for the base model), by provenance.
    adapters: dict[str, str] = field(default_factory=dict)
    # Agent -> the prompt version of its answer (the tag agent's names its mode), by provenance.
    prompt_versions: dict[str, str] = field(default_factory=dict)


class Evaluator:
    """Runs one user through every route and agent; `served` is the served catalogue's items by id."""

    def __init__(
        self,
        stubs: ServiceStubsWithJudge,
        options: EvalOptions,
        served: Mapping[str, common_pb2.Item],
        transitions: CategoryTransitions | None = None,
    ) -> None:
        self.stubs = stubs
        self.options = options
        self.served = served
        # Counted from the training users only (evaluation.cli); empty: frequent + popular next categories.
        self.transitions = transitions or CategoryTransitions()

    def service_user_id(self, split: Split) -> str:
        """A namespaced id, so that no service mixes in a served user's log or profile of the same id."""
        return f"eval:{split.user_id}"

    async def evaluate(self, split: Split) -> UserEval:
        """Raises grpc.aio.AioRpcError when intent, tags or retrieval fail (the user is then left out)."""
        ranking = self.options.ranking
        user_id = self.service_user_id(split)
        history = [i for i in split.history if i.item_id in self.served]
        behaviour = [interaction_to_pb(i) for i in history]
        recent = list(dict.fromkeys(i.item_id for i in reversed(history)))[: ranking.recent_items]
        exclude = list(dict.fromkeys(split.history_ids))
        usage = Usage()
        served, cooccurrence, content, mined = await asyncio.gather(
            self._collaborative(user_id, recent, exclude, cooccurrence_only=False),
            self._collaborative(user_id, recent, exclude, cooccurrence_only=True),
            self._content(recent, exclude),
            self._interests(user_id, behaviour),
        )
        # The fused variants use what the gateway gets: the learned route when an artefact is served.
        learned = [scored for scored in served if scored.route == LEARNED]
        collaborative = served if learned else cooccurrence
        usage.add(mined.usage)
        predicted = await self._tags(user_id, mined.interests, behaviour)
        usage.add(predicted.usage)
        profile = profile_from_answers(user_id, mined, predicted)
        tags = tag_queries(profile, ranking.tag_route_max_tags)
        tag_route = await self._tag_route(tags, exclude)
        ranked = self._ranked(collaborative, content, tag_route, bool(tags), set(exclude))
        ranked[COLLABORATIVE] = _ids(cooccurrence)[: self.options.top_k]
        if learned:
            ranked[LEARNED] = _ids(served)[: self.options.top_k]
        target_category = _category(self.served[split.target.item_id])
        history_categories = [_category(self.served[item_id]) for item_id in recent]
        k = ranking.tag_route_max_tags
        tag_categories = [tag.category for tag in tags if tag.category]
        frequent = metrics.most_frequent(history_categories, k)
        last_category = _category(self.served[history[-1].item_id]) if history else ""
        statistics = frequent_then_transitions(frequent, last_category, self.transitions, k)
        result = UserEval(
            user_id=split.user_id,
            target=split.target.item_id,
            target_category=target_category,
            profile_source=source(profile.fallback),
            fallback_parts=profile.fallback_parts,
            tag_hits={
                "baseline": metrics.hit_rate(frequent, target_category),
                "frequent_transitions": metrics.hit_rate(statistics, target_category),
                "recgpt_v1": metrics.hit_rate(set(tag_categories), target_category),
                "recgpt_v1_topped_up": metrics.hit_rate(
                    topped_up(tag_categories, statistics, k), target_category
                ),
            },
            tags_searched=len(tags),
            ranked=ranked,
            model=profile.model,
            usage=usage,
            adapters={
                "interest_miner": mined.provenance.adapter,
                "tag_predictor": predicted.provenance.adapter,
            },
            prompt_versions={
                "interest_miner": mined.provenance.prompt_version,
                "tag_predictor": predicted.provenance.prompt_version,
            },
        )
        explained = await self._explain(user_id, ranked[FUSED_RECGPT], tag_route, result)
        if self.options.judge:
            parts = {part: profile.sources[part].fallback for part in (INTERESTS, TAGS)}
            await self._judge(user_id, behaviour, mined.interests, tags, parts, explained, result)
        return result

    async def _collaborative(
        self, user_id: str, seeds: list[str], exclude: list[str], *, cooccurrence_only: bool
    ) -> list[common_pb2.ScoredItem]:
        if not seeds:
            return []
        reply = await self.stubs.retrieval.Collaborative(
            retrieval_pb2.CollaborativeRequest(
                user_id=user_id,
                top_k=self.options.top_k,
                seed_item_ids=seeds,
                exclude_item_ids=exclude,
                cooccurrence_only=cooccurrence_only,
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
                tags=retrieval_pb2.TagQueries(tags=tags),
                top_k=self.options.top_k,
                per_query_top_k=self.options.ranking.tag_route_per_tag_k,
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
                max_interests=self.options.ranking.max_interests,
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
                user_id=user_id,
                interests=interests,
                behaviour=behaviour,
                max_tags=self.options.ranking.max_tags,
            ),
            timeout=self.options.llm_deadline_s,
        )
        return reply

    def _ranked(
        self,
        collaborative: list[common_pb2.ScoredItem],
        content: list[common_pb2.ScoredItem],
        tag_route: list[common_pb2.ScoredItem],
        has_tags: bool,
        exclude: set[str],
    ) -> dict[str, list[str]]:
        ranking, top_k = self.options.ranking, self.options.top_k
        beta = ranking.recgpt_v1_beta
        baseline_weights = [ranking.collaborative_weight, ranking.content_weight]
        baseline = _ids_of(
            fuse(
                [
                    RouteItems(COLLABORATIVE, baseline_weights[0], collaborative),
                    RouteItems(CONTENT, baseline_weights[1], content),
                ],
                exclude,
            )
        )
        # As the gateway serves recgpt-v1: the baseline when the profile has no tag or beta leaves the tag
        # route no weight, else beta * (the baseline's fusion) + (1 - beta) * tag.
        if has_tags and beta < 1:
            (collaborative_weight, content_weight), tag_weight = over_baseline(baseline_weights, beta)
            routes = [
                RouteItems(COLLABORATIVE, collaborative_weight, collaborative),
                RouteItems(CONTENT, content_weight, content),
                RouteItems(TAG, tag_weight, tag_route),
            ]
            recgpt = _ids_of(fuse(routes, exclude))
        else:
            recgpt = baseline
        return {
            COLLABORATIVE: _ids(collaborative)[:top_k],
            CONTENT: _ids(content)[:top_k],
            TAG: _ids(tag_route)[:top_k],
            FUSED_BASELINE: baseline[:top_k],
            FUSED_RECGPT: recgpt[:top_k],
        }

    async def _explain(
        self,
        user_id: str,
        fused: list[str],
        tag_route: list[common_pb2.ScoredItem],
        result: UserEval,
    ) -> list[explain_pb2.Explanation]:
        """Explanations of the top fused RecGPT-V1 items with an interest (those the tag route brought).

        Written afresh, past the live cache (`bypass_cache`): figures must not depend on what earlier runs
        or serving left there, and an evaluation must not fill serving's cache with its users' texts.
        """
        interest_of = {s.item.item_id: s.interest for s in tag_route if s.interest}
        chosen = [item_id for item_id in fused if item_id in interest_of][: self.options.explain_items]
        if not chosen:
            return []
        pairs = [explain_pb2.ExplainPair(interest=interest_of[i], item_id=i) for i in chosen]
        try:
            reply = await self.stubs.explain.Explain(
                explain_pb2.ExplainRequest(
                    user_id=user_id,
                    pairs=pairs,
                    method=explain_pb2.METHOD_RECGPT_V1,
                    cache_only=False,
                    bypass_cache=True,
                ),
                timeout=self.options.llm_deadline_s,
            )
        except grpc.aio.AioRpcError as error:
            log.warning("explain failed", extra={"user_id": user_id, "code": error.code().name})
            result.explain_failed = True
            return []
        result.usage.add(reply.usage)
        explanations = [e for e in reply.explanations if e.text]
        if explanations:
            result.adapters["explainer"] = explanations[0].provenance.adapter
        result.explanations = [
            Explained(e.item_id, e.text, e.fallback or e.provenance.fallback) for e in explanations
        ]
        return explanations

    async def _judge(
        self,
        user_id: str,
        behaviour: list[common_pb2.Interaction],
        interests: Sequence[common_pb2.Interest],
        tags: Sequence[common_pb2.Tag],
        part_fallback: Mapping[str, bool],
        explanations: list[explain_pb2.Explanation],
        result: UserEval,
    ) -> None:
        """Judges the three artefacts concurrently; a failed judge call is counted, not fatal.

        Each verdict is filed under its artefact's source: the profile part's for interests and tags, the
        explanation's own for explanations.
        """
        requests: dict[str, judge_pb2.JudgeRequest] = {}
        sources: dict[str, list[str]] = {}

        def request() -> judge_pb2.JudgeRequest:
            return judge_pb2.JudgeRequest(
                user_id=user_id, method=judge_pb2.METHOD_RECGPT_V1, behaviour=behaviour, source="offline"
            )

        if interests:
            requests["interests"] = request()
            requests["interests"].interests.interests.extend(interests)
            sources["interests"] = [source(part_fallback[INTERESTS])] * len(interests)
        if tags:
            requests["tags"] = request()
            requests["tags"].tags.tags.extend(tags)
            sources["tags"] = [source(part_fallback[TAGS])] * len(tags)
        if explanations:
            requests["explanations"] = request()
            requests["explanations"].explanations.explanations.extend(
                judge_pb2.ExplanationSubject(
                    interest=e.interest, item=self.served.get(e.item_id), text=e.text
                )
                for e in explanations
            )
            sources["explanations"] = [source(e.fallback) for e in result.explanations]
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
            result.adapters["judge"] = reply.provenance.adapter
            by_source: dict[str, Counter[str]] = {own: Counter() for own in SOURCES}
            artefacts = sources[name]
            for judgement in reply.judgements:
                # The judge's answer names the artefact; one naming none is not counted.
                if 0 <= judgement.index < len(artefacts):
                    by_source[artefacts[judgement.index]][VERDICTS.get(judgement.verdict, "other")] += 1
            result.verdicts[name] = by_source


def _ids(items: Sequence[common_pb2.ScoredItem]) -> list[str]:
    return [scored.item.item_id for scored in items if scored.item.item_id]


def _ids_of(candidates: Sequence[Candidate]) -> list[str]:
    return [candidate.item.item_id for candidate in candidates]


def _category(item: common_pb2.Item) -> str:
    return item.category_path[-1] if item.category_path else ""
