"""eval-feed's own parts: the independent constraint check, the simulated user, the figures."""

from __future__ import annotations

import grpc
import httpx
from pydantic import SecretStr

from evaluation.feed.cli import Platform
from evaluation.feed.constraints import violations
from evaluation.feed.report import aggregate
from evaluation.feed.runner import MISS_ROUNDS, FeedEvaluator, UserOutcome
from evaluation.feed.simulator import TemplatedUser
from evaluation.split import Split
from recgpt_domain.catalogue import Interaction, Item
from recgpt_domain.preferences import Constraint, Preferences

FILM = Item(
    item_id="1",
    title="Toy Story (1995)",
    category_path=["Movies", "Animation"],
    description="Genres: Adventure, Animation, Children. Year: 1995. Tags: pixar, fun.",
)
GLUE = Item(
    item_id="g1",
    title="Gorilla Super Glue Gel, clear",
    brand="Gorilla",
    category_path=["Industrial & Scientific", "Tapes, Adhesives & Sealants", "Glues"],
)


def test_violations_are_checked_from_the_item_itself() -> None:
    prefs = Preferences(
        hard_positive=[
            Constraint(field="category", value="Children"),
            Constraint(field="year", op="gte", value="1990"),
        ],
        hard_negative=[Constraint(field="brand", value="gorilla")],
    )
    assert violations(FILM, prefs, 4.1) == []
    assert violations(GLUE, prefs, None) == [
        "year gte 1990",
        "category not in ['Children']",
        "brand = gorilla",
    ]
    rated = Preferences(hard_positive=[Constraint(field="rating", op="gte", value="4")])
    assert violations(FILM, rated, None) == ["rating gte 4"]


def test_the_simulated_user_describes_but_never_names_and_never_repeats() -> None:
    for target, rating in ((FILM, 4.2), (GLUE, None)):
        user = TemplatedUser(target, rating)
        commands = [user.command(round_number, [GLUE, FILM]) for round_number in range(1, 6)]
        assert len(set(commands)) == 5
        assert all(
            target.title.casefold() not in c.casefold() and target.item_id not in c.split() for c in commands
        )
    assert TemplatedUser(FILM, 4.2).command(1, []) == "only Animation films from the 1990s"
    assert TemplatedUser(GLUE, None).command(1, []) == "only Glues"


def test_figures() -> None:
    hit = UserOutcome("a", "t", rounds=2, hit_at_10=False, hit_at_50=True, baseline_hit_at_50=True)
    hit.latencies_s, hit.llm_statuses = [0.01, 2.0], ["not_needed", "ok"]
    hit.parts = [
        {"kind": "category", "source": "rules", "resolution": "exact"},
        {"kind": "brand", "source": "llm", "resolution": "dropped"},
    ]
    miss = UserOutcome("b", "u", violations=["round 1: x brand = y"])
    miss.latencies_s, miss.llm_statuses = [0.02], ["invalid"]
    report = aggregate([hit, miss], {})
    assert report["single_round"]["recbot_recall_at_50"] == 0.5
    assert report["multi_round"]["pass_rate"] == 0.5
    assert report["multi_round"]["average_rounds_miss_counts_6"] == (2 + MISS_ROUNDS) / 2
    assert report["hard_constraints"]["violations"] == 1
    assert report["parser"]["llm_schema_valid_rate"] == 0.5
    assert report["parser"]["catalogue_resolved_rate"] == 0.5
    assert report["latency_s"]["command_wall_rules_only"]["p50"] == 0.01


class _SearchTimesOut:
    async def Search(self, request: object, **_: object) -> object:
        raise grpc.aio.AioRpcError(
            grpc.StatusCode.DEADLINE_EXCEEDED, grpc.aio.Metadata(), grpc.aio.Metadata(), "Deadline Exceeded"
        )


async def test_a_failed_embedding_search_drops_that_user_not_the_run() -> None:
    def gateway(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(200, json={})
        page = {"items": [{"item_id": "g1"}], "preferences": {}, "timings": {}, "parts": [], "plan": []}
        return httpx.Response(200, json={**page, "llm_status": "not_needed"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(gateway), base_url="http://gw") as http:
        evaluator = FeedEvaluator(http, _SearchTimesOut(), {"g1": GLUE, "1": FILM}, {})  # type: ignore[arg-type]
        split = Split("ann", [Interaction(item_id="g1")], Interaction(item_id="1"))

        outcome = await evaluator.evaluate(split)

    assert outcome.errors == ["embedding search: DEADLINE_EXCEEDED Deadline Exceeded"]
    assert aggregate([outcome], {})["users"] == {"evaluated": 0, "with_errors": 1}


async def test_the_simulated_users_call_the_gateway_with_the_key_exec_hands_over() -> None:
    seen: list[httpx.Request] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    platform = Platform(
        gateway_url="http://gw:8080", api_key=SecretStr("rgk_dev"), retrieval_target="127.0.0.1:1"
    )
    async with platform.gateway_client(httpx.MockTransport(gateway)) as http:
        await http.delete("/v1/feed/preferences", params={"user_id": "ann"})

    assert [(str(r.url.copy_with(query=None)), r.headers["authorization"]) for r in seen] == [
        ("http://gw:8080/v1/feed/preferences", "Bearer rgk_dev")
    ]
