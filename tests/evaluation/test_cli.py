"""`recgpt-eval` end to end against fake services on a tiny MovieLens folder written here.

Hand-computed expectations (see fake_services): served movies 1-7; user 1 holds out 3 (Drama) after two
comedies, user 2 holds out 4 (Drama) after two horror films, user 3 holds out 8 (not served: skipped), user
4 has one rating (not eligible). Collaborative returns the 3 lowest unseen ids, content all unseen ids
from the highest, the tag route the Drama movies. Served settings are the defaults (24 tags searched,
baseline 0.6 collaborative + 0.4 content) but beta, set to 0.5 so that the tag route reorders the page.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from evaluation.cli import amain
from recgpt.retrieval.v1 import retrieval_pb2
from recgpt_domain.datasets.importer import import_dataset
from recgpt_tools.run_state import RunState
from tests.evaluation.fake_services import INTERESTS_VERSION, TAGS_VERSION, Fallbacks, Seen, fake_platform

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


@pytest.fixture(autouse=True)
def unreachable_services(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every service address set, where nothing listens: a test that needs services points at its own."""
    point_at("127.0.0.1:1", monkeypatch)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "movies"
    folder.mkdir()
    (folder / "movies.csv").write_text(MOVIES)
    (folder / "ratings.csv").write_text(RATINGS)
    return folder


def point_at(target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RETRIEVAL", "INTENT", "TAGS", "EXPLAIN", "JUDGE"):
        monkeypatch.setenv(f"RECGPT_{name}_TARGET", target)


def behaviour_fingerprint(dataset: Path, tmp_path: Path, held_out_last: bool) -> str:
    """The fingerprint of the dataset's behaviour log, imported as a platform would."""
    name = "held-out" if held_out_last else "full"
    return import_dataset(dataset, tmp_path / name, held_out_last=held_out_last).behaviour_fingerprint


def cooccurrence_of(fingerprint: str) -> retrieval_pb2.IndexInfo:
    return retrieval_pb2.IndexInfo(
        cooccurrence_behaviour_fingerprint=fingerprint, cooccurrence_users=4, cooccurrence_interactions=6
    )


async def run(dataset: Path, out: Path, *extra: str) -> int:
    return await amain(
        ["--dataset", str(dataset), "--users", "10", "--out", str(out), "--no-progress", *extra]
    )


def split(llm: float | None, fallback: float | None, all_users: float | None) -> dict[str, float | None]:
    return {"llm": llm, "fallback": fallback, "all": all_users}


# NDCG of a single target at rank n.
RANK = {n: 1 / math.log2(n + 1) for n in range(1, 6)}


async def test_report_on_known_users(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RECGPT_RECGPT_V1_BETA", "0.5")
    out = tmp_path / "eval" / "report.json"
    held_out = cooccurrence_of(behaviour_fingerprint(dataset, tmp_path, held_out_last=True))
    async with fake_platform(index_info=held_out) as (target, seen):
        point_at(target, monkeypatch)
        assert await run(dataset, out) == 0
    report: dict[str, Any] = json.loads(out.read_text())
    users = report["users"]
    assert (users["eligible"], users["selected"], users["evaluated"], users["failed"]) == (3, 3, 2, 0)
    assert users["targets_not_served"] == 1
    assert (users["dataset_items"], users["dataset_items_not_served"]) == (8, 1)
    assert users["ids"] == {"llm": ["1", "2"], "fallback": []}
    assert (users["count"], users["share"]) == (
        {"llm": 2, "fallback": 0, "all": 2},
        {"llm": 1.0, "fallback": 0.0},
    )
    assert users["targets_seen_by_platform"] is False
    assert users["cooccurrence"]["built_from"] == "held_out_log"
    assert "without its target" in users["platform_saw"]
    assert report["model"] == "fake-model"
    assert report["served"]["tag_route_max_tags"] == report["k_tags"] == 24
    assert report["served"]["recgpt_v1_beta"] == 0.5

    # Every user's profile came from the LLM: the fallback group is empty (null), never 0.
    # Every eligible user is evaluated: no training user is left to count transitions from, so frequent +
    # transitions is the frequent categories alone (a miss), the LLM tags keep their hits topped up.
    assert report["tag_hit_rate"] == {
        "baseline": split(0.0, None, 0.0),
        "frequent_transitions": split(0.0, None, 0.0),
        "recgpt_v1": split(1.0, None, 1.0),
        "recgpt_v1_topped_up": split(1.0, None, 1.0),
    }
    assert report["tag_transitions"] == {"training_users": 0, "transitions": 0, "categories": 0}
    # Which adapter each agent's answers came from, by their provenance (the fake judge names none: base).
    assert report["adapters"]["interest_miner"] == {"fake-adapter": 2}
    assert report["adapters"]["tag_predictor"] == {"fake-adapter": 2}
    # And the prompt version each answered with: the tag agent's names its mode.
    assert report["prompt_versions"] == {
        "interest_miner": {INTERESTS_VERSION: 2},
        "tag_predictor": {TAGS_VERSION: 2},
    }
    assert report["tags_searched_mean"] == split(2.0, None, 2.0)
    retrieval = report["retrieval"]
    expected_ndcg10 = {
        "collaborative": RANK[1] / 2,  # user 2's target is not among the 3
        "content": (RANK[5] + RANK[2]) / 2,
        "tag": (RANK[1] + RANK[2]) / 2,
        "fused_baseline": (RANK[1] + RANK[5]) / 2,
        # 0.5 x the baseline (0.3 collaborative + 0.2 content) + 0.5 x tag: user 1's 3 first (0.84 against
        # 4's 0.72), user 2's 4 second behind 3 (0.60 against 0.72).
        "fused_recgpt_v1": (RANK[1] + RANK[2]) / 2,
    }
    for route, value in expected_ndcg10.items():
        for metric in ("ndcg@10", "ndcg@50"):
            figure = retrieval[route][metric]
            assert figure["all"] == figure["llm"] == pytest.approx(value), route
            assert figure["fallback"] is None
    assert retrieval["collaborative"]["recall@10"] == split(0.5, None, 0.5)
    assert retrieval["fused_recgpt_v1"]["recall@50"] == split(1.0, None, 1.0)
    assert report["exclusive_recall_tag_over_collaborative"] == {
        "@10": split(0.5, None, 0.5),
        "@50": split(0.5, None, 0.5),
    }

    # Items 3 and 4 are explained for both users: "eval:1 would enjoy 3 for comedy films" vs "eval:2 ...":
    # 7 of 8 tokens in common, ROUGE-L 7/8.
    diversity = report["explanation_diversity"]
    assert diversity["rouge"].startswith("rouge-score")
    assert diversity["all"] == diversity["llm"]
    assert (diversity["llm"]["items"], diversity["llm"]["pairs"], diversity["llm"]["explanations"]) == (
        2,
        2,
        4,
    )
    assert diversity["llm"]["value"] == pytest.approx(1 - 7 / 8)
    assert diversity["fallback"] == {"value": None, "items": 0, "pairs": 0, "explanations": 0}
    assert diversity["share"] == {"llm": 1.0, "fallback": 0.0}

    judge = report["judge"]
    assert (judge["interests"]["all"]["judged"], judge["interests"]["all"]["pass_rate"]) == (2, 1.0)
    assert (judge["tags"]["llm"]["judged"], judge["tags"]["llm"]["pass_rate"]) == (4, 0.5)
    assert (judge["explanations"]["all"]["passed"], judge["explanations"]["all"]["failed"]) == (2, 2)
    assert judge["tags"]["fallback"]["pass_rate"] is None
    assert report["cost_per_user"]["pipeline"] == {
        "prompt_tokens": 60.0,
        "completion_tokens": 30.0,
        "engine_seconds": 3.0,
    }
    assert report["cost_per_user"]["judge"] == {
        "prompt_tokens": 21.0,
        "completion_tokens": 9.0,
        "engine_seconds": 0.75,
    }
    assert report["fallback_share"] == {"interests": 0.0, "tags": 0.0, "profile": 0.0}
    check_requests(seen)
    printed = capsys.readouterr().out
    assert "the platform saw: each user's history without its target" in printed
    assert "WARNING" not in printed


def check_requests(seen: Seen) -> None:
    """The held-out history, never the target, reaches every service; the services' ids are namespaced;
    the requests carry the served settings; explanations bypass the live cache."""
    mined = {r.user_id: r for r in seen.of("MineInterests")}
    assert set(mined) == {"eval:1", "eval:2"}
    assert [i.item_id for i in mined["eval:1"].behaviour] == ["1", "2"]
    assert all(r.max_interests == 0 for r in mined.values())
    assert all(r.max_tags == 0 for r in seen.of("PredictTags"))
    collaborative = {r.user_id: r for r in seen.of("Collaborative")}
    assert list(collaborative["eval:1"].seed_item_ids) == ["2", "1"]
    assert set(collaborative["eval:1"].exclude_item_ids) == {"1", "2"}
    tag_searches = [r for r in seen.of("Search") if r.WhichOneof("query") == "tags"]
    assert tag_searches
    assert all(r.per_query_top_k == 10 and r.top_k == 50 for r in tag_searches)
    assert {r.source for r in seen.of("Judge")} == {"offline"}
    explained = seen.of("Explain")
    assert all(not r.cache_only and r.bypass_cache for r in explained)
    assert all(len(r.pairs) == 2 for r in explained)
    assert len(seen.of("GetIndexInfo")) == 1


async def test_every_llm_figure_is_split_by_who_answered(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """User 2's tags come from the fallback, and every explanation from the template."""
    out = tmp_path / "report.json"
    fallbacks = Fallbacks(tags=frozenset({"eval:2"}), explanations=frozenset({"eval:1", "eval:2"}))
    async with fake_platform(fallbacks=fallbacks) as (target, _):
        point_at(target, monkeypatch)
        assert await run(dataset, out) == 0
    report: dict[str, Any] = json.loads(out.read_text())
    users = report["users"]
    assert users["ids"] == {"llm": ["1"], "fallback": ["2"]}
    assert users["share"] == {"llm": 0.5, "fallback": 0.5}
    assert report["fallback_share"] == {"interests": 0.0, "tags": 0.5, "profile": 0.5}

    assert report["tag_hit_rate"]["recgpt_v1"] == split(1.0, 1.0, 1.0)
    # User 1's target is the tag route's first item, user 2's its second.
    assert report["retrieval"]["tag"]["ndcg@10"] == pytest.approx(split(1.0, RANK[2], (1.0 + RANK[2]) / 2))
    # Both routes hit user 1's target; only the tag route user 2's.
    assert report["exclusive_recall_tag_over_collaborative"]["@10"] == split(0.0, 1.0, 0.5)

    # The template writes the same text for an item whoever reads it: no diversity, reported apart.
    diversity = report["explanation_diversity"]
    assert diversity["llm"] == {"value": None, "items": 0, "pairs": 0, "explanations": 0}
    assert (diversity["fallback"]["value"], diversity["fallback"]["pairs"]) == (0.0, 2)
    assert diversity["share"] == {"llm": 0.0, "fallback": 1.0}

    judge = report["judge"]
    # Tags: user 1's (the LLM's) and user 2's (the fallback's), each the first passing.
    assert (judge["tags"]["llm"]["judged"], judge["tags"]["fallback"]["judged"]) == (2, 2)
    assert judge["interests"]["fallback"]["judged"] == 0
    assert (judge["explanations"]["fallback"]["judged"], judge["explanations"]["llm"]["judged"]) == (4, 0)


async def test_the_tag_figures_are_also_split_by_the_tag_answer_alone(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """User 2's interests come from the fallback, its tags from the LLM: a fallback profile, LLM tags."""
    out = tmp_path / "report.json"
    async with fake_platform(fallbacks=Fallbacks(interests=frozenset({"eval:2"}))) as (target, _):
        point_at(target, monkeypatch)
        assert await run(dataset, out) == 0
    report: dict[str, Any] = json.loads(out.read_text())
    assert report["users"]["ids"] == {"llm": ["1"], "fallback": ["2"]}
    assert report["tag_hit_rate"]["recgpt_v1"] == split(1.0, 1.0, 1.0)
    by_tags = report["tag_hit_rate_by_tag_answer"]
    assert set(by_tags) == set(report["tag_hit_rate"])
    assert by_tags["recgpt_v1"] == {"llm": 1.0, "fallback": None, "all": 1.0}
    assert "by the tag answer alone (2 by the LLM, 0 by its fallback):" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("loaded", "seen_targets", "built_from"),
    [("full", True, "full_log"), ("other", None, "other"), ("", None, None)],
)
async def test_the_leakage_check_asks_retrieval_what_its_cooccurrence_counted(
    dataset: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    loaded: str,
    seen_targets: bool | None,
    built_from: str | None,
) -> None:
    fingerprint = {"full": behaviour_fingerprint(dataset, tmp_path, held_out_last=False), "other": "f" * 64}
    out = tmp_path / "report.json"
    async with fake_platform(index_info=cooccurrence_of(fingerprint.get(loaded, ""))) as (target, _):
        point_at(target, monkeypatch)
        assert await run(dataset, out, "--no-judge") == 0
    users = json.loads(out.read_text())["users"]
    assert users["targets_seen_by_platform"] is seen_targets
    if built_from is None:
        assert users["cooccurrence"] is None
    else:
        assert users["cooccurrence"]["built_from"] == built_from
        assert (users["cooccurrence"]["users"], users["cooccurrence"]["interactions"]) == (4, 6)
    assert ("WARNING: the platform was built from these very interactions" in capsys.readouterr().out) is (
        seen_targets is True
    )


async def test_the_served_settings_are_read_from_the_environment(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beta 1 leaves the tag route no weight: recgpt-v1 is served as the baseline; one tag is searched."""
    monkeypatch.setenv("RECGPT_RECGPT_V1_BETA", "1")
    monkeypatch.setenv("RECGPT_TAG_ROUTE_MAX_TAGS", "1")
    monkeypatch.setenv("RECGPT_TAG_ROUTE_PER_TAG_K", "3")
    monkeypatch.setenv("RECGPT_MAX_TAGS", "7")
    out = tmp_path / "report.json"
    async with fake_platform() as (target, seen):
        point_at(target, monkeypatch)
        assert await run(dataset, out, "--no-judge") == 0
    report = json.loads(out.read_text())
    assert report["k_tags"] == 1 and report["served"]["recgpt_v1_beta"] == 1.0
    assert report["tags_searched_mean"]["all"] == 1.0
    assert report["retrieval"]["fused_recgpt_v1"] == report["retrieval"]["fused_baseline"]
    tag_searches = [r for r in seen.of("Search") if r.WhichOneof("query") == "tags"]
    assert {(len(r.tags.tags), r.per_query_top_k) for r in tag_searches} == {(1, 3)}
    assert {r.max_tags for r in seen.of("PredictTags")} == {7}


async def test_invalid_served_settings_are_refused(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RECGPT_RECGPT_V1_BETA", "1.5")
    assert await run(dataset, tmp_path / "r.json") == 2
    assert "recgpt_v1_beta" in capsys.readouterr().err


async def test_failed_user_is_left_out_and_no_judge_skips_judging(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report.json"
    async with fake_platform(fail_users={"eval:2"}) as (target, seen):
        point_at(target, monkeypatch)
        assert await run(dataset, out, "--no-judge") == 0
    report = json.loads(out.read_text())
    assert (report["users"]["failed"], report["users"]["failed_ids"]) == (1, ["2"])
    assert report["users"]["evaluated"] == 1
    assert report["retrieval"]["collaborative"]["recall@10"]["all"] == 1.0
    assert seen.of("Judge") == []
    assert report["judge"]["interests"]["all"]["judged"] == 0


async def test_the_running_platforms_environment_names_the_services(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `recgpt-stack exec` hands over (`RunState.client_env`) is what the evaluation reads."""
    out = tmp_path / "report.json"
    async with fake_platform() as (target, _):
        names = ("retrieval", "intent", "tags", "explain", "judge")
        state = RunState(
            redis_url="redis://127.0.0.1:1/0",
            redis_prefix="unused",
            catalogue_dir=tmp_path,
            urls={},
            targets={name: target for name in names},
            metrics_urls={},
        )
        for name, value in state.client_env().items():
            monkeypatch.setenv(name, value)
        assert await run(dataset, out, "--no-judge") == 0
    assert json.loads(out.read_text())["users"]["evaluated"] == 2


async def test_missing_service_addresses_are_refused(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("RETRIEVAL", "INTENT", "TAGS", "EXPLAIN", "JUDGE"):
        monkeypatch.delenv(f"RECGPT_{name}_TARGET", raising=False)
        monkeypatch.delenv(f"RECGPT_EVAL_{name}_TARGET", raising=False)
    assert await run(dataset, tmp_path / "r.json") == 2
    assert "RETRIEVAL_TARGET" in capsys.readouterr().err


async def test_bad_dataset_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run(tmp_path, tmp_path / "r.json") == 2
    assert "no dataset found" in capsys.readouterr().err
