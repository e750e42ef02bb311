"""The co-occurrence sweep scores each weighting on the same users, the split's unseen ones apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.towers.fixtures import small_amazon
from towers import cooccurrence_sweep


def test_each_weighting_is_scored_on_every_user_and_on_the_unseen_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = small_amazon(tmp_path / "small", users=range(1, 400))
    rows = cooccurrence_sweep.sweep(dataset, split=1, share=0.2, window=5, exponents=[(0.5, 0.5), (0.3, 0.0)])
    assert [(row.seed_exponent, row.neighbour_exponent) for row in rows] == [(0.5, 0.5), (0.3, 0.0)]
    for row in rows:
        (everyone, r10, r50), (unseen, u10, u50) = row.figures["all"], row.figures["unseen"]
        assert everyone > unseen > 0
        assert 0 < r10 <= r50 <= 1 and 0 <= u10 <= u50 <= 1
    # The weighting changes what the route finds: the same users, other hits.
    assert rows[0].figures["all"] != rows[1].figures["all"]
    cooccurrence_sweep.main([str(dataset), "--exponents", "0.3,0"])
    assert capsys.readouterr().out.startswith("seed^0.3 neighbour^0.0: all (")
