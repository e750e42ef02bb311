"""`bench-v2` end to end against fake services (`fake_v2_services`) on the tiny MovieLens folder of the
evaluation's own test, every figure computed by hand.

Served movies 1-7. User 1 holds out 3 (Drama) after two comedies, user 2 holds out 4 (Drama) after two horror
films, user 3's target (8) is not served (skipped), user 4 has one rating (not eligible). Every eligible user
is evaluated, so no user is left to count transitions from: frequent + transitions is the user's frequent
genre alone (Comedy for user 1, Horror for user 2).

- V1 single (interests 10/5/0.5 s, tags 20/10/1.0 s): user 1 Drama + Horror by the LLM (hit), user 2 Sci-Fi
  by a fallback (miss).
- V1 multi-route: the interests once and three tag routes: user 1 picks 6, 2 distinct (4 duplicates); user
  2's routes all fall back.
- V2: user 1 planner (30/6/0.75 s), two experts (15/3/0.25 s each), arbiter (25/4/0.5 s) keeps Drama then
  Comedy, one duplicate among its 3 candidates; user 2's planner falls back: the V1 path (interests + tags).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evaluation.bench_v2 import amain
from recgpt.common.v1 import common_pb2
from recgpt.explain.v1 import explain_pb2
from recgpt.judge.v1 import judge_pb2
from tests.evaluation.fake_v2_services import fake_v2_platform

MOVIES = """movieId,title,genres
1,Funny One (2000),Comedy
2,Funny Two (2001),Comedy
3,Sad Three (2002),Drama
4,Sad Four (2003),Drama
5,Scary Five (2004),Horror
6,Scary Six (2005),Horror
7,Space Seven (2006),Sci-Fi
8,Lost Eight (2007),Western
"""
RATINGS = """userId,movieId,rating,timestamp
1,1,4.0,100
1,2,4.0,200
1,3,5.0,300
2,5,3.0,100
2,6,3.0,200
2,4,4.0,300
3,1,4.0,100
3,8,4.0,200
4,7,4.0,100
"""


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "movies"
    folder.mkdir()
    (folder / "movies.csv").write_text(MOVIES)
    (folder / "ratings.csv").write_text(RATINGS)
    return folder


def split(llm: float | None, fallback: float | None, every: float | None) -> dict[str, float | None]:
    return {"llm": llm, "fallback": fallback, "all": every}


@pytest.fixture
async def report(dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    out = tmp_path / "bench" / "v2.json"
    async with fake_v2_platform() as (target, seen):
        for name in ("RETRIEVAL", "INTENT", "TAGS", "EXPLAIN", "JUDGE"):
            monkeypatch.setenv(f"RECGPT_{name}_TARGET", target)
        status = await amain(["--dataset", str(dataset), "--users", "10", "--out", str(out), "--routes", "3"])
    assert status == 0
    # Two users through each variant: 2 (single) + 2 (multi-route) + 1 + 1 (each V2's V1 path) interest
    # calls; V2 by text, then by entity tokens.
    assert len(seen.of("MineInterests")) == 6 and len(seen.of("PlanPersonas")) == 4
    assert len(seen.of("PredictTags")) == 2 + 6 + 1 + 1 and len(seen.of("ExpertTags")) == 4
    assert [r.item_representation for r in seen.of("PlanPersonas")] == [
        common_pb2.ITEM_REPRESENTATION_TEXT
    ] * 2 + [common_pb2.ITEM_REPRESENTATION_ENTITY] * 2
    assert [r.item_representation for r in seen.of("ArbitrateTags")] == [
        common_pb2.ITEM_REPRESENTATION_TEXT,
        common_pb2.ITEM_REPRESENTATION_ENTITY,
    ]
    # Every call carries the held-out history, never the target.
    assert all(3 not in [int(i.item_id) for i in r.behaviour] for r in seen.of("PlanPersonas"))
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def test_the_report_has_every_variant_and_says_which_went_by_entity_tokens(report: dict[str, Any]) -> None:
    assert {"v1_single", "v1_multiroute", "v2_text", "v2_entity"} <= report.keys()
    selection = report["selection"]
    assert (selection["eligible"], selection["selected"], selection["targets_not_served"]) == (3, 3, 1)
    # Both planners' prompts went by entity tokens; the arbiter's only for the user whose planner answered.
    assert report["v2_entity"]["entity_tokens"]["users_with_entity_prompts"] == 2
    assert report["v2_entity"]["entity_tokens"]["entity_prompts"] == 3
    assert report["v2_text"]["entity_tokens"]["entity_prompts"] == 0
    for variant in ("v1_single", "v1_multiroute", "v2_text", "v2_entity"):
        figures = report[variant]
        assert isinstance(figures["engine_seconds_per_user"], float)
        assert set(figures["tag_hit_rate_at_30"]) == {"llm", "fallback", "all"}
        assert figures["users"] == 2


def test_v1_single_figures(report: dict[str, Any]) -> None:
    v1 = report["v1_single"]
    assert v1["prompt_tokens_per_user"] == 30 and v1["completion_tokens_per_user"] == 15
    assert v1["engine_seconds_per_user"] == pytest.approx(1.5)
    assert v1["tag_hit_rate_at_30"] == split(1.0, 0.0, 0.5)
    # Topped up: user 1 Drama, Horror, Comedy (hit); user 2 Sci-Fi, Horror (miss).
    assert v1["topped_up_hit_rate"] == split(1.0, 0.0, 0.5)
    assert v1["frequent_transitions_hit_rate"] == split(0.0, 0.0, 0.0)
    # User 1's hit (Drama) is outside the statistics' top (Comedy alone).
    assert v1["hits_outside_statistics_top"] == {"top": 24, "hits": 1, "outside": 1, "share": 1.0}
    assert v1["cold_start"]["users"] == 2 and v1["cold_start"]["tag_hit_rate"] == split(1.0, 0.0, 0.5)
    assert v1["fallback_shares"]["tag_predictor"] == {"calls": 2, "fallbacks": 1, "share": 0.5}


def test_v1_multiroute_figures(report: dict[str, Any]) -> None:
    routes = report["v1_multiroute"]
    assert routes["prompt_tokens_per_user"] == 10 + 3 * 20
    assert routes["engine_seconds_per_user"] == pytest.approx(0.5 + 3 * 1.0)
    assert routes["stages_per_user"]["routes"]["prompt_tokens"] == 60
    assert routes["duplicates"] == {"picks": 6, "duplicates": 4, "share": 4 / 6}
    assert routes["fallback_shares"]["tag_predictor"] == {"calls": 6, "fallbacks": 3, "share": 0.5}
    assert routes["tag_hit_rate_at_30"] == split(1.0, 0.0, 0.5)


def test_v2_figures_per_stage_fallbacks_and_duplicates(report: dict[str, Any]) -> None:
    v2 = report["v2_text"]
    # User 1: 30 + 2 * 15 + 25 = 85 prompt tokens; user 2: 30 + 10 + 20 = 60.
    assert v2["prompt_tokens_per_user"] == pytest.approx((85 + 60) / 2)
    assert v2["engine_seconds_per_user"] == pytest.approx((1.75 + 2.25) / 2)
    stages = v2["stages_per_user"]
    assert stages["planner"]["prompt_tokens"] == 30 and stages["experts"]["prompt_tokens"] == 15
    assert stages["arbiter"]["engine_seconds"] == pytest.approx(0.25)
    assert stages["v1"]["prompt_tokens"] == 15
    assert v2["paths"] == {"v1_tags": 1, "v2": 1}
    assert v2["personas"] == {"kept": 2, "dropped": 0}
    assert v2["users_by_source"] == {"llm": 1, "fallback": 1}
    assert v2["tag_hit_rate_at_30"] == split(1.0, 0.0, 0.5)
    assert v2["duplicates"] == {"picks": 3, "duplicates": 1, "share": 1 / 3}
    shares = v2["fallback_shares"]
    assert shares["persona_planner"] == {"calls": 2, "fallbacks": 1, "share": 0.5}
    assert shares["tag_expert"]["share"] == 0.0 and shares["tag_arbiter"]["calls"] == 1
    comparison = report["comparison"]["v2_text"]
    assert comparison["engine_seconds_saved_vs_v1_multiroute"] == pytest.approx(1 - 2.0 / 3.5)
    assert comparison["tag_hit_rate_difference_vs_v1_multiroute"] == pytest.approx(0.0)
    assert report["comparison"]["v2_entity"].keys() == comparison.keys()


def test_each_variant_explains_items_of_its_own_tags_by_its_method_and_the_panel_judges_them(
    report: dict[str, Any],
) -> None:
    """Items: the most-bought of each category in the held-out histories (Comedy: 1, bought by users 1 and
    3; Horror: 5, the smaller id of a tie; Drama and Sci-Fi have none). User 1's V1 tags (Drama, Horror)
    give item 5 for "films"; V2's (Drama, Comedy) give item 1 for the comedy fan; user 2's Sci-Fi gives
    none."""
    assert report["selection"]["explain_items"] == 2 and report["selection"]["judged"] is True
    for variant in ("v1_single", "v1_multiroute"):
        explained = report[variant]["explanations"]
        assert explained["method"] == "recgpt-v1"
        assert (explained["asked"], explained["explanations"], explained["users"]) == (1, 1, 1)
        assert explained["sources"] == {"meta_prompted": 0.0, "v1_llm": 1.0, "template": 0.0}
        assert explained["own_source"] == "v1_llm" and explained["fallback_share"] == 0.0
        assert explained["verdicts"] == {"bad": 1.0} and explained["all_seven_passed"] == 0.0
        assert explained["cost_per_user"]["explain"] == {
            "prompt_tokens": 40.0,
            "completion_tokens": 12.0,
            "engine_seconds": 1.0,
        }
        assert explained["cost_per_user"]["judge"]["engine_seconds"] == 4.0
        assert explained["failed_calls"] == {"explain": 0, "judge": 0}
    for variant in ("v2_text", "v2_entity"):
        explained = report[variant]["explanations"]
        assert explained["method"] == "recgpt-v2" and explained["fallback_share"] == 0.0
        assert explained["verdicts"] == {"superior": 1.0} and explained["all_seven_passed"] == 1.0
        assert explained["cost_per_user"]["explain"]["prompt_tokens"] == 90.0
        # One explanation per item: no pair to measure diversity on, said as null rather than 0.
        assert explained["diversity"]["meta_prompted"] == {"value": None, "items": 0, "pairs": 0}


async def test_the_explain_requests_carry_the_persona_and_the_last_interactions_moment(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fake_v2_platform() as (target, seen):
        for name in ("RETRIEVAL", "INTENT", "TAGS", "EXPLAIN", "JUDGE"):
            monkeypatch.setenv(f"RECGPT_{name}_TARGET", target)
        out = tmp_path / "v2.json"
        status = await amain(
            ["--dataset", str(dataset), "--users", "10", "--out", str(out), "--variants", "v1_single,v2_text"]
        )
    assert status == 0
    requests = seen.of("Explain")
    assert [(r.user_id, r.method, r.bypass_cache) for r in requests] == [
        ("bench:1", explain_pb2.METHOD_RECGPT_V1, True),
        ("bench:1", explain_pb2.METHOD_RECGPT_V2, True),
    ]
    pairs = [(p.interest, p.item_id) for r in requests for p in r.pairs]
    assert pairs == [("films", "5"), ("comedy fan", "1")]
    # User 1's last kept interaction is at 200 s after the epoch: a winter night (UTC).
    assert dict(requests[0].situation) == {"season": "winter", "time_of_day": "night"}
    assert dict(requests[1].situation) == {
        "season": "winter",
        "time_of_day": "night",
        "persona": "comedy fan",
    }
    judged = seen.of("Judge")
    assert [r.explanations.explanations[0].item.item_id for r in judged] == ["5", "1"]
    assert all(r.method == judge_pb2.METHOD_RECGPT_V2 for r in judged)


async def test_explanations_can_be_left_out_or_left_unjudged(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fake_v2_platform() as (target, seen):
        for name in ("RETRIEVAL", "INTENT", "TAGS", "EXPLAIN", "JUDGE"):
            monkeypatch.setenv(f"RECGPT_{name}_TARGET", target)
        base = ["--dataset", str(dataset), "--users", "10", "--variants", "v1_single"]
        assert await amain([*base, "--out", str(tmp_path / "a.json"), "--explain-items", "0"]) == 0
        assert not seen.of("Explain")
        assert await amain([*base, "--out", str(tmp_path / "b.json"), "--no-judge"]) == 0
        assert len(seen.of("Explain")) == 1 and not seen.of("Judge")
        assert await amain([*base, "--out", str(tmp_path / "c.json"), "--explain-items", "-1"]) == 2
    assert "explanations" not in json.loads((tmp_path / "a.json").read_text())["v1_single"]
    unjudged = json.loads((tmp_path / "b.json").read_text())["v1_single"]["explanations"]
    assert unjudged["judged"] == 0 and unjudged["explanations"] == 1
