"""Small datasets in the published formats, cut from the real ones (other users, other items)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

INTER_SPLITS = ("train", "valid", "test")


def unisrec_subset(real: Path, out: Path, stem: str, users: Iterable[int]) -> Path:
    """The given user indexes (where present) of the real Amazon dataset, re-indexed, as `stem`."""
    out.mkdir(parents=True, exist_ok=True)
    real_users = _index(real / "Scientific.user2index")
    keep_users = set(users) & set(real_users)
    real_items = _index(real / "Scientific.item2index")
    rows: dict[str, list[list[str]]] = {}
    used_items: list[int] = []
    for split in INTER_SPLITS:
        lines = (real / f"Scientific.{split}.inter").read_text().splitlines()[1:]
        rows[split] = [line.split("\t") for line in lines if int(line.split("\t")[0]) in keep_users]
        for _, sequence, target in rows[split]:
            used_items += [int(i) for i in [*sequence.split(), target]]
    user_map = {old: new for new, old in enumerate(sorted(keep_users))}
    item_map = {old: new for new, old in enumerate(dict.fromkeys(used_items))}
    header = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
    for split in INTER_SPLITS:
        body = "".join(
            f"{user_map[int(u)]}\t{' '.join(str(item_map[int(i)]) for i in seq.split())}\t"
            f"{item_map[int(t)]}\n"
            for u, seq, t in rows[split]
        )
        (out / f"{stem}.{split}.inter").write_text(header + body)
    (out / f"{stem}.user2index").write_text(
        "".join(f"{real_users[old]}\t{new}\n" for old, new in user_map.items())
    )
    (out / f"{stem}.item2index").write_text(
        "".join(f"{real_items[old]}\t{new}\n" for old, new in item_map.items())
    )
    asins = {real_items[old] for old in item_map}
    text_lines = (real / "Scientific.text").read_text().splitlines(keepends=True)
    (out / f"{stem}.text").write_text(
        text_lines[0] + "".join(line for line in text_lines[1:] if line.split("\t")[0] in asins)
    )
    with (
        (real / "Scientific.descriptions.csv").open(newline="") as source_file,
        (out / f"{stem}.descriptions.csv").open("w", newline="") as target_file,
    ):
        reader, writer = csv.reader(source_file), csv.writer(target_file)
        writer.writerow(next(reader))
        writer.writerows(row for row in reader if row[0] in asins)
    return out


def movielens_subset(real: Path, out: Path, users: Iterable[int]) -> Path:
    """The given users' ratings and tags, and only the movies they touched."""
    keep = {str(user) for user in users}
    out.mkdir(parents=True, exist_ok=True)
    ratings = _csv(real / "ratings.csv")
    tags = _csv(real / "tags.csv")
    kept_ratings = [ratings[0]] + [row for row in ratings[1:] if row[0] in keep]
    kept_tags = [tags[0]] + [row for row in tags[1:] if row[0] in keep]
    movies_used = {row[1] for row in kept_ratings[1:] + kept_tags[1:]}
    movies = _csv(real / "movies.csv")
    _write_csv(out / "movies.csv", [movies[0]] + [row for row in movies[1:] if row[0] in movies_used])
    _write_csv(out / "ratings.csv", kept_ratings)
    _write_csv(out / "tags.csv", kept_tags)
    return out


def replace_line(path: Path, line_no: int, text: str) -> None:
    """Replaces 1-based line `line_no` of `path` with `text`."""
    lines = path.read_text().splitlines(keepends=True)
    lines[line_no - 1] = text + "\n"
    path.write_text("".join(lines))


def _index(path: Path) -> dict[int, str]:
    pairs = (line.split("\t") for line in path.read_text().splitlines())
    return {int(index): original for original, index in pairs}


def _csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def _write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
