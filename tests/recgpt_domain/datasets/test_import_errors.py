"""Malformed sources: the error names file, line and reason, and nothing is written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from recgpt_domain.catalogue import read_manifest
from recgpt_domain.datasets.errors import CatalogueTargetError, DatasetFormatError
from recgpt_domain.datasets.importer import import_dataset
from tests.recgpt_domain.datasets.dataset_subsets import replace_line

UNISREC_CASES = [
    # (file, line, replacement or None to empty the file, expected line, words of the reason)
    ("Tiny.test.inter", 3, "1\t12 13", 3, "expected 3 tab-separated columns"),
    ("Tiny.valid.inter", 2, "0\t0 1 x\t2", 2, "item index is not an integer"),
    ("Tiny.train.inter", 4, "0\t0 1\t99999", 4, "unknown item index 99999"),
    ("Tiny.train.inter", 2, "77777\t0\t1", 2, "unknown user index 77777"),
    ("Tiny.test.inter", 1, "user\titems\ttarget", 1, "bad header"),
    ("Tiny.text", 1, "item\ttext", 1, "bad header"),
    ("Tiny.text", 5, "B0000XXXXX", 5, "expected 2 tab-separated columns"),
    ("Tiny.item2index", 3, "B00TNNWMXI\tthree", 3, "item index is not an integer"),
    ("Tiny.user2index", 2, "SOMEONE\t-4", 2, "user index is negative"),
    ("Tiny.text", None, None, None, "empty file"),
]
MOVIELENS_CASES = [
    ("ratings.csv", 3, "1,31,7.5,1260759144", 3, "rating 7.5 is outside 0.5-5.0"),
    ("ratings.csv", 4, "1,31,2.5,yesterday", 4, "timestamp is not an integer"),
    ("ratings.csv", 5, "1,31,2.5", 5, "expected 4 columns, found 3"),
    ("ratings.csv", 6, "1,999999999,2.5,1260759144", 6, "movieId 999999999 is not in movies.csv"),
    ("ratings.csv", 1, "user,movie,rating,time", 1, "bad header"),
    ("movies.csv", 3, "abc,Some Movie (1999),Drama", 3, "movieId is not an integer"),
    ("tags.csv", 2, "15,999999999,boring,1138537770", 2, "movieId 999999999 is not in movies.csv"),
    ("ratings.csv", None, None, None, "empty file"),
]


def _corrupt(path: Path, line: int | None, text: str | None) -> None:
    if line is None:
        path.write_text("")
    else:
        replace_line(path, line, text or "")


def _assert_rejected(source: Path, out: Path, file: str, line: int | None, reason: str) -> None:
    out.parent.mkdir(exist_ok=True)
    with pytest.raises(DatasetFormatError) as caught:
        import_dataset(source, out)
    error = caught.value
    assert (error.path.name, error.line) == (file, line)
    assert reason in error.reason
    assert str(error).startswith(f"{source / file}:{line}: " if line else f"{source / file}: ")
    assert not out.exists()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")] == []


@pytest.mark.parametrize(("file", "line", "text", "expected_line", "reason"), UNISREC_CASES)
def test_malformed_unisrec(
    small_unisrec: Path,
    tmp_path: Path,
    file: str,
    line: int | None,
    text: str | None,
    expected_line: int | None,
    reason: str,
) -> None:
    _corrupt(small_unisrec / file, line, text)
    _assert_rejected(small_unisrec, tmp_path / "out" / "catalogue", file, expected_line, reason)


def test_movielens_tags_point_at_known_movies(small_movielens: Path, tmp_path: Path) -> None:
    # The tags file of the fixture must hold a line 2 for the tags case below to mean something.
    assert len((small_movielens / "tags.csv").read_text().splitlines()) >= 2


@pytest.mark.parametrize(("file", "line", "text", "expected_line", "reason"), MOVIELENS_CASES)
def test_malformed_movielens(
    small_movielens: Path,
    tmp_path: Path,
    file: str,
    line: int | None,
    text: str | None,
    expected_line: int | None,
    reason: str,
) -> None:
    _corrupt(small_movielens / file, line, text)
    _assert_rejected(small_movielens, tmp_path / "out" / "catalogue", file, expected_line, reason)


def test_missing_required_file(small_unisrec: Path, tmp_path: Path) -> None:
    (small_unisrec / "Tiny.user2index").unlink()
    _assert_rejected(small_unisrec, tmp_path / "out" / "catalogue", "Tiny.user2index", None, "missing")


def test_bytes_that_are_not_utf8_are_reported_on_their_line(small_movielens: Path, tmp_path: Path) -> None:
    path = small_movielens / "movies.csv"
    lines = path.read_bytes().splitlines(keepends=True)
    lines[6] = b"999,Caf\xe9 (1999),Drama\n"
    path.write_bytes(b"".join(lines))
    _assert_rejected(small_movielens, tmp_path / "out" / "catalogue", "movies.csv", 7, "UTF-8")


def test_a_folder_of_neither_format(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "notes.txt").write_text("hello\n")
    with pytest.raises(DatasetFormatError, match="no dataset found"):
        import_dataset(tmp_path / "src", tmp_path / "out")


def test_a_failed_import_leaves_the_previous_catalogue(small_unisrec: Path, tmp_path: Path) -> None:
    out = tmp_path / "catalogue"
    before = import_dataset(small_unisrec, out)
    replace_line(small_unisrec / "Tiny.test.inter", 2, "0\t1 2\tnot-a-number")
    with pytest.raises(DatasetFormatError):
        import_dataset(small_unisrec, out)
    assert read_manifest(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalogue", "tiny-unisrec"]


def test_a_folder_that_is_not_a_catalogue_is_never_replaced(small_unisrec: Path, tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(CatalogueTargetError):
        import_dataset(small_unisrec, precious)
    assert (precious / "thesis.tex").read_text() == "years of work"


def test_reimport_replaces_the_catalogue_as_a_whole(
    small_unisrec: Path, small_movielens: Path, tmp_path: Path
) -> None:
    out = tmp_path / "catalogue"
    import_dataset(small_unisrec, out)
    (out / "stray.txt").write_text("left by someone")
    manifest = import_dataset(small_movielens, out)
    assert read_manifest(out).source_format == manifest.source_format == "movielens"
    assert not (out / "stray.txt").exists()
    shutil.rmtree(out)
