"""Which users a batch run refreshes: given ones, a file of ids, or every user in Redis."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from recgpt_domain.behaviour_store import BehaviourStore


def parse_ids(values: Iterable[str]) -> list[str]:
    """Ids in first-seen order, blanks and repeats dropped."""
    seen: dict[str, None] = {}
    for value in values:
        for part in value.split(","):
            if part.strip():
                seen.setdefault(part.strip(), None)
    return list(seen)


def read_ids(path: Path) -> list[str]:
    """One id a line; blank lines and `#` comments ignored."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return parse_ids(line.split("#", 1)[0] for line in lines)


async def all_users(behaviour: BehaviourStore) -> list[str]:
    """Every user with a behaviour log, sorted so that runs and `--limit` are repeatable."""
    return sorted(await behaviour.users(), key=_natural)


def _natural(user_id: str) -> tuple[bool, int, str]:
    """Numeric ids in numeric order (2 before 10), then the others."""
    digits = user_id.isdigit()
    return (not digits, int(user_id) if digits else 0, user_id)
