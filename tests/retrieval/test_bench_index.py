"""`python -m retrieval.bench_index`, run tiny: its figures, its JSON line, and vectors that are clustered."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from retrieval import bench_index


def test_a_tiny_run_prints_recall_latency_build_and_memory_per_type(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "bench.json"
    bench_index.main(["--items", "1500", "--queries", "12", "--types", "flat,ivf", "--json-out", str(out)])
    printed = capsys.readouterr().out.splitlines()
    line = json.loads(printed[-1])
    assert json.loads(out.read_text()) == line
    assert (line["bench"], line["items"], line["dimension"], line["k"]) == ("index", 1500, 384, 50)
    assert line["auto_picks"] == "flat"
    flat, ivf = line["types"]["flat"], line["types"]["ivf"]
    # Flat is the exact answer the others are measured against, filtered or not.
    assert flat["all"]["recall_at_50"] == flat["filtered"]["recall_at_50"] == 1.0
    assert ivf["params"] == {"nlist": 154}
    assert ivf["nprobe"] >= 1
    assert ivf["calibration_recall"] >= 0.95
    for figures in (flat, ivf):
        assert figures["build_s"] >= 0 and figures["rss_mb"] >= 0
        assert figures["index_mb"] >= 1500 * 384 * 4 / 2**20  # at least the vectors
        for part in ("all", "filtered"):
            assert 0 < figures[part]["p50_ms"] <= figures[part]["p99_ms"]
            assert 0.5 < figures[part]["recall_at_50"] <= 1.0
    assert any(text.startswith("ivf ") for text in printed)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(SystemExit):
        bench_index.main(["--items", "10"])
    with pytest.raises(SystemExit):
        bench_index.main(["--types", "flat,annoy"])


def test_the_vectors_are_clustered_not_uniform_noise() -> None:
    vectors = bench_index.clustered_vectors(2000, seed=1)
    assert vectors.shape == (2000, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = vectors[:100] @ vectors.T
    np.fill_diagonal(cosine[:, :100], -1.0)
    nearest = np.sort(cosine, axis=1)[:, -1]
    # Family members are close, strangers share only the common direction; uniform noise in 384-d
    # would put every pair near 0.
    assert nearest.mean() > 0.7
    assert 0.1 < cosine.mean() < 0.35
