"""Which published format a source folder is in, and the reader and file list of each."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from recgpt_domain.datasets import movielens, unisrec
from recgpt_domain.datasets.dataset import ImportedDataset
from recgpt_domain.datasets.errors import DatasetFormatError

FORMATS = ("unisrec", "movielens")

_READERS: dict[str, Callable[[Path], ImportedDataset]] = {
    "unisrec": unisrec.read,
    "movielens": movielens.read,
}
_FILES: dict[str, Callable[[Path], list[Path]]] = {
    "unisrec": unisrec.source_files,
    "movielens": movielens.source_files,
}


def resolve_format(source: Path, requested: str = "auto") -> str:
    """`requested` when it names a format, else the one the folder's file names show."""
    if not source.is_dir():
        raise DatasetFormatError(source, None, "not a directory")
    if requested in FORMATS:
        return requested
    if requested != "auto":
        raise ValueError(f"unknown format {requested!r}; expected auto or one of {', '.join(FORMATS)}")
    looks_movielens = any((source / name).is_file() for name in movielens.REQUIRED_FILES)
    looks_unisrec = any(
        path.is_file() for pattern in ("*.text", "*.item2index", "*.inter") for path in source.glob(pattern)
    )
    if looks_movielens and looks_unisrec:
        raise DatasetFormatError(
            source, None, "holds both MovieLens and UniSRec files: pass --format to choose"
        )
    if looks_movielens:
        return "movielens"
    if looks_unisrec:
        return "unisrec"
    raise DatasetFormatError(
        source,
        None,
        "no dataset found: expected <name>.text/.item2index/.user2index/.inter (UniSRec) "
        "or movies.csv and ratings.csv (MovieLens)",
    )


def read(source: Path, fmt: str) -> ImportedDataset:
    return _READERS[fmt](source)


def source_files(source: Path, fmt: str) -> list[Path]:
    return _FILES[fmt](source)
