"""Line-numbered reading of the tab-separated and CSV files of both formats; errors name the line."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from pathlib import Path

from recgpt_domain.datasets.errors import DatasetFormatError

_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")
_DECIMAL = re.compile(r"\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*")


def require_file(path: Path) -> Path:
    if not path.is_file():
        raise DatasetFormatError(path, None, "required file is missing")
    return path


def decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line, decoded one line at a time so a bad byte is reported on its line."""
    require_file(path)
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DatasetFormatError(path, line_no, f"not UTF-8 text ({error.reason})") from None
            yield line_no, text.removeprefix("\ufeff") if line_no == 1 else text


def tab_rows(path: Path, columns: int, header: list[str] | None) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each data line; checks the header's field names and every column count.

    `header` holds the RecBole field names (the part before `:type`); None for files without a header.
    """
    seen_any = False
    for line_no, raw in decoded_lines(path):
        line = raw.rstrip("\r\n")
        if line_no == 1 and header is not None:
            _check_atomic_header(path, line, header)
            continue
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != columns:
            raise DatasetFormatError(
                path, line_no, f"expected {columns} tab-separated columns, found {len(fields)}"
            )
        seen_any = True
        yield line_no, fields
    if not seen_any:
        raise DatasetFormatError(path, None, "empty file: no data lines")


def _check_atomic_header(path: Path, line: str, expected: list[str]) -> None:
    names = [field.split(":", 1)[0] for field in line.split("\t")]
    if names != expected:
        want = "\\t".join(f"{name}:<type>" for name in expected)
        raise DatasetFormatError(path, 1, f"bad header {line!r}: expected {want}")


def csv_rows(
    path: Path, header: list[str], *, exact_header: bool = True, allow_empty: bool = False
) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each CSV record; checks the header and that every record has its columns.

    With `exact_header` False the header must start with `header` (further columns are allowed).
    """
    seen_any = False
    reader = csv.reader((text for _, text in decoded_lines(path)), strict=True)
    try:
        first = next(reader, None)
        if first is None:
            raise DatasetFormatError(path, None, "empty file: no header")
        names = [name.strip() for name in first]
        if (names != header) if exact_header else (names[: len(header)] != header):
            raise DatasetFormatError(path, 1, f"bad header {','.join(first)!r}: expected {','.join(header)}")
        width = len(first)
        for fields in reader:
            if not fields:
                continue
            if len(fields) != width:
                raise DatasetFormatError(
                    path, reader.line_num, f"expected {width} columns, found {len(fields)}"
                )
            seen_any = True
            yield reader.line_num, fields
    except csv.Error as error:
        raise DatasetFormatError(path, reader.line_num, f"malformed CSV: {error}") from None
    if not seen_any and not allow_empty:
        raise DatasetFormatError(path, None, "empty file: a header and no data lines")


def parse_int(path: Path, line: int, value: str, what: str) -> int:
    """A non-negative decimal integer (int() alone would also take "1_000" and non-ASCII digits)."""
    if not _INTEGER.fullmatch(value):
        raise DatasetFormatError(path, line, f"{what} is not an integer: {value!r}")
    number = int(value)
    if number < 0:
        raise DatasetFormatError(path, line, f"{what} is negative: {value!r}")
    return number


def parse_float(path: Path, line: int, value: str, what: str) -> float:
    if not _DECIMAL.fullmatch(value):
        raise DatasetFormatError(path, line, f"{what} is not a number: {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise DatasetFormatError(path, line, f"{what} is not finite: {value!r}")
    return number
