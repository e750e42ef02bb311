"""The one error an import reports for bad input: which file, which line, what is wrong."""

from __future__ import annotations

from pathlib import Path


class DatasetFormatError(Exception):
    """A source file (or folder) that breaks its format; `line` is 1-based, None for the whole file."""

    def __init__(self, path: Path, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{where}: {self.reason}"


class CatalogueTargetError(Exception):
    """The output folder cannot take a catalogue (e.g. it exists and holds something else)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"
