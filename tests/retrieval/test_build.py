"""`recgpt-build-index` as a command: what it prints, skipping when fresh, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from recgpt_domain.embedder import Embedder
from retrieval import build


def test_builds_then_skips_when_fresh(
    catalogue_dir: Path, tmp_path: Path, embedder: Embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--catalogue", str(catalogue_dir), "--index", str(tmp_path / "index")]
    build.main(argv, lambda: embedder)
    first = capsys.readouterr().out
    assert "built (no usable index)" in first
    assert "12 items, 384-d" in first
    assert "co-occurrence: 8 users" in first

    build.main(argv, lambda: pytest.fail("a fresh index must not load the model"))
    assert "is fresh: skipped" in capsys.readouterr().out

    build.main([*argv, "--force"], lambda: embedder)
    assert "built (forced)" in capsys.readouterr().out


def test_a_missing_catalogue_is_a_clear_error(tmp_path: Path) -> None:
    argv = ["--catalogue", str(tmp_path / "none"), "--index", str(tmp_path / "index")]
    with pytest.raises(SystemExit) as exited:
        build.main(argv, lambda: pytest.fail("no model needed"))
    assert "has no items.jsonl" in str(exited.value.code)


def test_missing_folders_are_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECGPT_CATALOGUE_DIR", raising=False)
    monkeypatch.delenv("RECGPT_INDEX_DIR", raising=False)
    with pytest.raises(SystemExit) as exited:
        build.main([])
    assert "--catalogue" in str(exited.value.code)
