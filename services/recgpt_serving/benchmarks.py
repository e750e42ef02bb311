"""How every benchmark ends: one JSON line on stdout, and in a file when asked, for the results pages."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def emit(line: dict[str, Any], json_out: Path | None = None) -> None:
    """The benchmark's JSON line: printed, and written to `json_out` when given."""
    text = json.dumps(line)
    sys.stdout.write(text + "\n")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text + "\n")
