"""MovieLens CSVs (`movies.csv`, `ratings.csv`, optional `tags.csv`) read into canonical items and histories.

Mapping, chosen so that every item has one category that tags can map to:
- item_id = movieId; title as published ("Toy Story (1995)"); brand empty.
- category_path = ["Movies", <primary genre>], the primary genre being the movie's rarest genre in this
  catalogue (the most telling: Toy Story is Animation rather than Comedy); IMAX, a screen format listed among
  the genres, only when there is nothing else; ["Movies"] when no genre is listed.
- description = all genres, the year, and the users' tags for the movie (most used first).
- behaviour = every rating as behaviour "rating" with its rating and timestamp, per user oldest first (ties
  keep file order). Tags are not interactions: they annotate a rating the user also gave, and live on in the
  item descriptions; `tags.csv` stays the per-user ground truth for tag evaluation.
`links.csv` (IMDb/TMDb ids) is not read.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from recgpt_domain.catalogue import Interaction, Item, UserHistory
from recgpt_domain.datasets.dataset import ImportedDataset
from recgpt_domain.datasets.errors import DatasetFormatError
from recgpt_domain.datasets.tabular import csv_rows, parse_float, parse_int

ROOT_CATEGORY = "Movies"
REQUIRED_FILES = ("movies.csv", "ratings.csv")
OPTIONAL_FILES = ("tags.csv",)
RATING_RANGE = (0.5, 5.0)
# Listed among the genres but a screen format: a primary genre only when there is no other.
_FORMAT_GENRES = {"IMAX"}
_NO_GENRES = "(no genres listed)"
_MAX_TAGS = 20
_YEAR = re.compile(r"\((\d{4})(?:-\d{0,4})?\)\s*$")


@dataclass
class _Movie:
    movie_id: str
    title: str
    genres: list[str]


def source_files(source: Path) -> list[Path]:
    present = [source / name for name in OPTIONAL_FILES if (source / name).is_file()]
    return [source / name for name in REQUIRED_FILES] + present


def read(source: Path) -> ImportedDataset:
    movies = _read_movies(source / "movies.csv")
    tags = _read_tags(source / "tags.csv", movies)
    histories = _read_ratings(source / "ratings.csv", movies)
    genre_counts = Counter(genre for movie in movies.values() for genre in movie.genres)
    items = [_item(movie, genre_counts, tags.get(movie_id)) for movie_id, movie in movies.items()]
    return ImportedDataset(items=items, histories=histories)


def _read_movies(path: Path) -> dict[str, _Movie]:
    movies: dict[str, _Movie] = {}
    for line, (raw_id, title, raw_genres) in csv_rows(path, ["movieId", "title", "genres"]):
        movie_id = str(parse_int(path, line, raw_id, "movieId"))
        if movie_id in movies:
            raise DatasetFormatError(path, line, f"movieId {movie_id} appears twice")
        if not title.strip():
            raise DatasetFormatError(path, line, f"movie {movie_id} has an empty title")
        genres = [g.strip() for g in raw_genres.split("|") if g.strip() and g.strip() != _NO_GENRES]
        movies[movie_id] = _Movie(movie_id=movie_id, title=title.strip(), genres=genres)
    return movies


def _known_movie(path: Path, line: int, raw: str, movies: dict[str, _Movie]) -> str:
    movie_id = str(parse_int(path, line, raw, "movieId"))
    if movie_id not in movies:
        raise DatasetFormatError(path, line, f"movieId {movie_id} is not in movies.csv")
    return movie_id


def _read_ratings(path: Path, movies: dict[str, _Movie]) -> list[UserHistory]:
    by_user: defaultdict[int, list[tuple[int, Interaction]]] = defaultdict(list)
    low, high = RATING_RANGE
    header = ["userId", "movieId", "rating", "timestamp"]
    for line, (raw_user, raw_movie, raw_rating, raw_time) in csv_rows(path, header):
        user = parse_int(path, line, raw_user, "userId")
        movie_id = _known_movie(path, line, raw_movie, movies)
        rating = parse_float(path, line, raw_rating, "rating")
        if not low <= rating <= high:
            raise DatasetFormatError(path, line, f"rating {rating} is outside {low}-{high}")
        timestamp = parse_int(path, line, raw_time, "timestamp")
        interaction = Interaction(item_id=movie_id, timestamp=timestamp, rating=rating, behaviour="rating")
        by_user[user].append((timestamp, interaction))
    return [
        UserHistory(
            user_id=str(user),
            interactions=[i for _, i in sorted(by_user[user], key=lambda pair: pair[0])],
        )
        for user in sorted(by_user)
    ]


def _read_tags(path: Path, movies: dict[str, _Movie]) -> dict[str, list[str]]:
    """movieId -> its distinct tags (case-insensitive), most used first; empty when the file is absent."""
    if not path.exists():
        return {}
    counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
    spelling: dict[str, str] = {}
    header = ["userId", "movieId", "tag", "timestamp"]
    for line, (raw_user, raw_movie, tag, raw_time) in csv_rows(path, header, allow_empty=True):
        parse_int(path, line, raw_user, "userId")
        movie_id = _known_movie(path, line, raw_movie, movies)
        parse_int(path, line, raw_time, "timestamp")
        text = " ".join(tag.split())
        if text:
            counts[movie_id][text.lower()] += 1
            spelling.setdefault(text.lower(), text)
    return {
        movie_id: [spelling[tag] for tag, _ in counter.most_common(_MAX_TAGS)]
        for movie_id, counter in counts.items()
    }


def _primary_genre(genres: list[str], genre_counts: Counter[str]) -> str | None:
    candidates = [g for g in genres if g not in _FORMAT_GENRES] or genres
    if not candidates:
        return None
    return min(candidates, key=lambda genre: (genre_counts[genre], genre))


def _item(movie: _Movie, genre_counts: Counter[str], tags: list[str] | None) -> Item:
    primary = _primary_genre(movie.genres, genre_counts)
    parts = []
    if movie.genres:
        parts.append(f"Genres: {', '.join(movie.genres)}.")
    year = _YEAR.search(movie.title)
    if year:
        parts.append(f"Year: {year.group(1)}.")
    if tags:
        parts.append(f"Tags: {', '.join(tags)}.")
    return Item(
        item_id=movie.movie_id,
        title=movie.title,
        category_path=[ROOT_CATEGORY, primary] if primary else [ROOT_CATEGORY],
        description=" ".join(parts),
    )
