"""`recgpt-eval` end to end against fake services on a tiny MovieLens folder written here.

Hand-computed expectations (see fake_services): served movies 1-7; user 1 holds out 3 (Drama) after two
comedies, user 2 holds out 4 (Drama) after two horror films, user 3 holds out 8 (not served: skipped), user
4 has one rating (not eligible). Collaborative returns the 3 lowest unseen ids, content all unseen ids
from the highest, the tag route the Drama movies.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from evaluation.cli import amain
from recgpt_tools import run_state
from recgpt_tools.run_state import RunState
from tests.evaluation.fake_services import Seen, fake_platform

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


def point_at(target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RETRIEVAL", "INTENT", "TAGS", "EXPLAIN", "JUDGE"):
        monkeypatch.setenv(f"RECGPT_{name}_TARGET", target)


async def run(dataset: Path, out: Path, *extra: str) -> int:
    return await amain(
        [
            "--dataset",
            str(dataset),
            "--users",
            "10",
            "--out",
            str(out),
            "--no-progress",
            "--k-tags",
            "5",
            *extra,
        ]
    )


async def test_report_on_known_users(dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "eval" / "report.json"
    async with fake_platform() as (target, seen):
        point_at(target, monkeypatch)
        assert await run(dataset, out) == 0
    report: dict[str, Any] = json.loads(out.read_text())
    population = report["population"]
    assert population["users_eligible"] == 3
    assert population["users_selected"] == 3
    assert population["targets_not_served"] == 1
    assert (population["dataset_items"], population["dataset_items_not_served"]) == (8, 1)
    assert population["users_failed"] == 0
    assert report["users_evaluated"] == 2
    assert report["model"] == "fake-model"

    assert report["tag_hit_rate"] == {"baseline": 0.0, "recgpt_v1": 1.0}
    retrieval = report["retrieval"]
    rank = {n: 1 / math.log2(n + 1) for n in range(1, 6)}  # NDCG of a single target at rank n
    expected_ndcg10 = {
        "collaborative": rank[1] / 2,  # user 2's target is not among the 3
        "content": (rank[5] + rank[2]) / 2,
        "tag": (rank[1] + rank[2]) / 2,
        "fused_baseline": (rank[1] + rank[5]) / 2,
        "fused_recgpt_v1": (rank[1] + rank[3]) / 2,
    }
    for route, value in expected_ndcg10.items():
        assert retrieval[route]["ndcg@10"] == pytest.approx(value), route
        assert retrieval[route]["ndcg@50"] == pytest.approx(value), route
    assert retrieval["collaborative"]["recall@10"] == 0.5
    assert retrieval["fused_recgpt_v1"]["recall@50"] == 1.0
    assert report["exclusive_recall_tag_over_collaborative"] == {"@10": 0.5, "@50": 0.5}

    # Items 3 and 4 are explained for both users: "eval:1 would enjoy 3 for comedy films" vs "eval:2 ...":
    # 7 of 8 words in common, ROUGE-L 7/8.
    diversity = report["explanation_diversity"]
    assert (diversity["items"], diversity["pairs"], diversity["explanations"]) == (2, 2, 4)
    assert diversity["fallback_explanations"] == 0
    assert diversity["value"] == pytest.approx(1 - 7 / 8)

    judge = report["judge"]
    assert (judge["interests"]["judged"], judge["interests"]["pass_rate"]) == (2, 1.0)
    assert (judge["tags"]["judged"], judge["tags"]["pass_rate"]) == (4, 0.5)
    assert (judge["explanations"]["passed"], judge["explanations"]["failed"]) == (2, 2)
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
    assert report["fallback_share"] == {"interests": 0.0, "tags": 0.0}
    check_requests(seen)


def check_requests(seen: Seen) -> None:
    """The held-out history, never the target, reaches every service; the services' ids are namespaced."""
    mined = {r.user_id: r for r in seen.of("MineInterests")}
    assert set(mined) == {"eval:1", "eval:2"}
    assert [i.item_id for i in mined["eval:1"].behaviour] == ["1", "2"]
    collaborative = {r.user_id: r for r in seen.of("Collaborative")}
    assert list(collaborative["eval:1"].seed_item_ids) == ["2", "1"]
    assert set(collaborative["eval:1"].exclude_item_ids) == {"1", "2"}
    tag_searches = [r for r in seen.of("Search") if r.WhichOneof("query") == "tags"]
    assert tag_searches
    assert all(r.per_query_top_k == 10 and r.top_k == 50 for r in tag_searches)
    assert {r.source for r in seen.of("Judge")} == {"offline"}
    assert all(not r.cache_only for r in seen.of("Explain"))
    assert all(len(r.pairs) == 2 for r in seen.of("Explain"))


async def test_failed_user_is_left_out_and_no_judge_skips_judging(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report.json"
    async with fake_platform(fail_users={"eval:2"}) as (target, seen):
        point_at(target, monkeypatch)
        assert await run(dataset, out, "--no-judge") == 0
    report = json.loads(out.read_text())
    assert report["population"]["users_failed"] == 1
    assert report["users_evaluated"] == 1
    assert report["retrieval"]["collaborative"]["recall@10"] == 1.0
    assert seen.of("Judge") == []
    assert report["judge"]["interests"]["judged"] == 0


async def test_stack_file_names_the_services(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at("127.0.0.1:1", monkeypatch)  # nothing listens there: only the stack file's address works
    out = tmp_path / "report.json"
    async with fake_platform() as (target, _):
        stack = tmp_path / "stack.json"
        names = ("retrieval", "intent", "tags", "explain", "judge")
        state = RunState(
            redis_url="redis://127.0.0.1:1/0",
            redis_prefix="unused",
            catalogue_dir=tmp_path,
            urls={},
            targets={name: target for name in names},
            metrics_urls={},
        )
        run_state.write(stack, state)
        assert await run(dataset, out, "--stack", str(stack), "--no-judge") == 0
    assert json.loads(out.read_text())["users_evaluated"] == 2


async def test_bad_dataset_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run(tmp_path, tmp_path / "r.json") == 2
    assert "no dataset found" in capsys.readouterr().err
