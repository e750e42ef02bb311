"""The one way benchmarks end: a JSON line printed, and written when asked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recgpt_serving.benchmarks import emit


def test_emit_prints_one_json_line_and_writes_it_when_asked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    emit({"bench": "x", "p50_ms": 1.5})
    assert capsys.readouterr().out == '{"bench": "x", "p50_ms": 1.5}\n'
    out = tmp_path / "deep" / "line.json"
    emit({"bench": "y"}, out)
    assert json.loads(capsys.readouterr().out) == json.loads(out.read_text()) == {"bench": "y"}
