"""Splits a dataset directory by user into two directories in the same published format, same catalogue.

    python -m towers.split_users data/amazon-scientific --seen var/split/seen --unseen var/split/unseen

The unseen users (a stable sha256 share of user ids) never reach training: `make eval-retrieval` on that
directory measures the model on users it never saw, as the platform meets new users of the same catalogue.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import shutil
from pathlib import Path

from recgpt_domain.datasets import formats, unisrec


def is_unseen(user_id: str, share: float, seed: int = 0) -> bool:
    """A stable share of users; each seed draws another split (seed 0 is the split used before seeds)."""
    key = f"unseen:{user_id}" if seed == 0 else f"unseen:{seed}:{user_id}"
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def _split_unisrec(source: Path, share: float, seen: Path, unseen: Path, seed: int) -> tuple[int, int]:
    stem = unisrec.find_stem(source)
    users = dict(line.split("\t") for line in (source / f"{stem}.user2index").read_text().splitlines())
    unseen_index = {index for name, index in users.items() if is_unseen(name, share, seed)}
    for out, wanted in ((seen, False), (unseen, True)):

        def keep(index: str, wanted: bool = wanted) -> bool:
            return (index in unseen_index) == wanted

        out.mkdir(parents=True, exist_ok=True)
        for name in (f"{stem}.text", f"{stem}.item2index", f"{stem}.descriptions.csv"):
            if (source / name).is_file():
                shutil.copyfile(source / name, out / name)
        (out / f"{stem}.user2index").write_text(
            "".join(f"{name}\t{index}\n" for name, index in users.items() if keep(index))
        )
        for split in ("train", "valid", "test"):
            header, *lines = (source / f"{stem}.{split}.inter").read_text().splitlines(keepends=True)
            (out / f"{stem}.{split}.inter").write_text(
                header + "".join(line for line in lines if keep(line.split("\t", 1)[0]))
            )
    return len(users) - len(unseen_index), len(unseen_index)


def _split_movielens(source: Path, share: float, seen: Path, unseen: Path, seed: int) -> tuple[int, int]:
    with (source / "ratings.csv").open(newline="") as handle:
        user_ids = {row[0] for row in list(csv.reader(handle))[1:]}
    unseen_ids = {user for user in user_ids if is_unseen(user, share, seed)}
    for out, wanted in ((seen, False), (unseen, True)):
        out.mkdir(parents=True, exist_ok=True)
        for name in ("movies.csv", "links.csv", "README.txt"):
            if (source / name).is_file():
                shutil.copyfile(source / name, out / name)
        for name in ("ratings.csv", "tags.csv"):
            if not (source / name).is_file():
                continue
            header, *lines = (source / name).read_text().splitlines(keepends=True)
            (out / name).write_text(
                header + "".join(line for line in lines if (line.split(",", 1)[0] in unseen_ids) == wanted)
            )
    return len(user_ids) - len(unseen_ids), len(unseen_ids)


def split(source: Path, share: float, seen: Path, unseen: Path, seed: int = 0) -> tuple[int, int]:
    """Writes both directories; returns the users in each."""
    fmt = formats.resolve_format(source)
    if fmt == "unisrec":
        return _split_unisrec(source, share, seen, unseen, seed)
    return _split_movielens(source, share, seen, unseen, seed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="towers.split_users", description=__doc__.split("\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--share", type=float, default=0.2)
    parser.add_argument("--seen", type=Path, required=True)
    parser.add_argument("--unseen", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0, help="which random split (0: the original one)")
    args = parser.parse_args(argv)
    seen_users, unseen_users = split(args.dataset, args.share, args.seen, args.unseen, args.seed)
    print(f"{seen_users} users in {args.seen}, {unseen_users} unseen users in {args.unseen}")  # noqa: T201


if __name__ == "__main__":
    main()
