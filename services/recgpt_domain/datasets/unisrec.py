"""UniSRec / RecBole atomic files (`<stem>.text`, `.item2index`, `.user2index`, `.{train,valid,test}.inter`,
optional `.descriptions.csv`) read into canonical items and chronological histories.

The `.inter` files hold leave-one-out prefixes of each user's sequence (train every prefix step, valid and
test the last two targets); a user's full sequence is rebuilt from all their lines, see `stitch`.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from recgpt_domain.catalogue import Interaction, Item, UserHistory
from recgpt_domain.datasets import amazon_text
from recgpt_domain.datasets.dataset import ImportedDataset
from recgpt_domain.datasets.errors import DatasetFormatError
from recgpt_domain.datasets.tabular import csv_rows, parse_int, tab_rows

INTER_SPLITS = ("train", "valid", "test")
_INTER_HEADER = ["user_id", "item_id_list", "item_id"]
# Between the quoted strings of a list-like description that literal_eval refuses.
_LIST_SEPARATOR = re.compile(r"""['"]\s*,\s*['"]""")


def find_stem(source: Path) -> str:
    """The dataset name in `<stem>.text`; exactly one must be present."""
    stems = sorted(path.name.removesuffix(".text") for path in source.glob("*.text") if path.is_file())
    if not stems:
        raise DatasetFormatError(source, None, "no <name>.text file: not a UniSRec/RecBole dataset folder")
    if len(stems) > 1:
        names = ", ".join(f"{stem}.text" for stem in stems)
        raise DatasetFormatError(source, None, f"several datasets in one folder ({names})")
    return stems[0]


def source_files(source: Path) -> list[Path]:
    """The files an import reads (the optional ones only where present), for the source fingerprint."""
    stem = find_stem(source)
    names = [f"{stem}.text", f"{stem}.item2index", f"{stem}.user2index"]
    optional = [f"{stem}.{split}.inter" for split in INTER_SPLITS] + [f"{stem}.descriptions.csv"]
    return [source / name for name in names] + [
        source / name for name in optional if (source / name).is_file()
    ]


def read(source: Path) -> ImportedDataset:
    stem = find_stem(source)
    texts = _read_texts(source / f"{stem}.text")
    items = _items(texts)
    descriptions = _read_descriptions(source / f"{stem}.descriptions.csv", set(texts))
    items = [item.model_copy(update={"description": descriptions.get(item.item_id, "")}) for item in items]
    item_ids = _read_index(source / f"{stem}.item2index", "item")
    user_ids = _read_index(source / f"{stem}.user2index", "user")
    sequences = _read_sequences(source, stem, item_ids, user_ids, set(texts))
    histories = [
        UserHistory(
            user_id=user_ids[user],
            interactions=[Interaction(item_id=item_ids[index]) for index in sequences[user]],
        )
        for user in sorted(sequences)
    ]
    level2 = {item.category_path[1] for item in items if len(item.category_path) > 1}
    notes = [f"{len(level2)} level-2 categories inferred: {'; '.join(sorted(level2))}"]
    return ImportedDataset(items=items, histories=histories, notes=notes)


def _read_texts(path: Path) -> dict[str, str]:
    texts: dict[str, str] = {}
    for line, (item_id, text) in tab_rows(path, 2, ["item_id", "text"]):
        item_id = item_id.strip()
        if not item_id:
            raise DatasetFormatError(path, line, "empty item id")
        if item_id in texts:
            raise DatasetFormatError(path, line, f"item {item_id!r} appears twice")
        if not text.strip():
            raise DatasetFormatError(path, line, f"item {item_id!r} has an empty text")
        texts[item_id] = text
    return texts


def _items(texts: dict[str, str]) -> list[Item]:
    root = amazon_text.infer_root(texts.values())
    parsed = {item_id: amazon_text.parse_text(text, root) for item_id, text in texts.items()}
    level2 = amazon_text.infer_level2(
        p.category_words for p in parsed.values() if p.category_words is not None
    )
    items = []
    for item_id, p in parsed.items():
        path = (
            amazon_text.category_path(root, p.category_words, level2)
            if root is not None and p.category_words is not None
            else []
        )
        items.append(Item(item_id=item_id, title=p.title, brand=p.brand, category_path=path))
    return items


def _read_descriptions(path: Path, known: set[str]) -> dict[str, str]:
    """Item descriptions where the optional file has one; its `description` is a Python list literal."""
    if not path.exists():
        return {}
    descriptions: dict[str, str] = {}
    for line, fields in csv_rows(path, ["item_id", "description"], exact_header=False, allow_empty=True):
        item_id, raw = fields[0].strip(), fields[1].strip()
        if item_id in known and item_id not in descriptions:
            descriptions[item_id] = _description_text(path, line, raw)
    return descriptions


def _description_text(path: Path, line: int, raw: str) -> str:
    """The text of a list-like description; the published file is not always valid Python (stray quotes)."""
    if not raw.startswith("["):
        return raw
    if not raw.endswith("]"):
        raise DatasetFormatError(path, line, "description starts a list ('[') but does not end it")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        value = None
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        parts = value
    else:
        parts = _LIST_SEPARATOR.split(raw[1:-1].strip())
        parts = [part.strip().strip("'\"") for part in parts]
    return " ".join(part.strip() for part in parts if part.strip())


def _read_index(path: Path, what: str) -> dict[int, str]:
    """index -> original id (ASIN or reviewer id), both unique."""
    by_index: dict[int, str] = {}
    seen: set[str] = set()
    for line, (raw_id, raw_index) in tab_rows(path, 2, None):
        original = raw_id.strip()
        if not original:
            raise DatasetFormatError(path, line, f"empty {what} id")
        index = parse_int(path, line, raw_index, f"{what} index")
        if index in by_index:
            raise DatasetFormatError(path, line, f"{what} index {index} appears twice")
        if original in seen:
            raise DatasetFormatError(path, line, f"{what} id {original!r} appears twice")
        by_index[index] = original
        seen.add(original)
    return by_index


def _read_sequences(
    source: Path, stem: str, item_ids: dict[int, str], user_ids: dict[int, str], texts: set[str]
) -> dict[int, list[int]]:
    """user index -> the full item sequence rebuilt from every `.inter` line (prefix + target) of the user."""
    paths = [source / f"{stem}.{split}.inter" for split in INTER_SPLITS]
    present = [path for path in paths if path.is_file()]
    if not present:
        raise DatasetFormatError(paths[-1], None, "required file is missing (no .inter file at all)")
    windows: dict[int, list[list[int]]] = defaultdict(list)
    for path in present:
        for line, (raw_user, raw_list, raw_target) in tab_rows(path, 3, _INTER_HEADER):
            user = parse_int(path, line, raw_user, "user index")
            if user not in user_ids:
                raise DatasetFormatError(path, line, f"unknown user index {user}")
            sequence = [parse_int(path, line, raw, "item index") for raw in raw_list.split()]
            sequence.append(parse_int(path, line, raw_target, "target item index"))
            for index in sequence:
                _check_item(path, line, index, item_ids, texts)
            windows[user].append(sequence)
    width = max(len(sequence) for user_windows in windows.values() for sequence in user_windows)
    return {user: stitch(user_windows, width) for user, user_windows in windows.items()}


def stitch(windows: list[list[int]], width: int) -> list[int]:
    """One user's sequence from its lines (each a prefix of it, plus the target).

    The preprocessing keeps only the last `width - 1` items of a long prefix, so windows of the full `width`
    may have lost their start: begin with the longest shorter window (a true prefix) and extend it one item
    at a time with the full window that continues its tail.
    """
    if width < 2:
        longest: list[int] = max(windows, key=len)
        return list(longest)
    shorter = [window for window in windows if len(window) < width]
    full = [window for window in windows if len(window) == width]
    if shorter:
        start: list[int] = max(shorter, key=len)
        sequence = list(start)
    else:
        # Only full windows: start from one that no other window leads into.
        tails = {tuple(window[1:]) for window in full}
        sequence = list(next((w for w in full if tuple(w[:-1]) not in tails), full[0]))
        full.remove(sequence)
    following: defaultdict[tuple[int, ...], list[int]] = defaultdict(list)
    for window in full:
        following[tuple(window[:-1])].append(window[-1])
    while len(sequence) >= width - 1:
        targets = following.get(tuple(sequence[len(sequence) - (width - 1) :]))
        if not targets:
            break
        sequence.append(targets.pop(0))
    return sequence


def _check_item(path: Path, line: int, index: int, item_ids: dict[int, str], texts: set[str]) -> None:
    original = item_ids.get(index)
    if original is None:
        raise DatasetFormatError(path, line, f"unknown item index {index}")
    if original not in texts:
        raise DatasetFormatError(path, line, f"item index {index} ({original}) has no line in .text")
