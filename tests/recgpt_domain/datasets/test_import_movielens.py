"""MovieLens CSVs -> catalogue: the real dataset and a folder cut from it."""

from __future__ import annotations

from pathlib import Path

from recgpt_domain.catalogue import CatalogueManifest, iter_histories, read_items
from recgpt_domain.datasets.importer import import_dataset


def test_counts_of_the_real_dataset(movielens_catalogue: tuple[Path, CatalogueManifest]) -> None:
    manifest = movielens_catalogue[1]
    assert (manifest.source_format, manifest.items, manifest.users) == ("movielens", 9125, 532)
    assert manifest.interactions == 80717


def test_histories_are_chronological_ratings(
    movielens_catalogue: tuple[Path, CatalogueManifest],
) -> None:
    histories = list(iter_histories(movielens_catalogue[0]))
    assert [h.user_id for h in histories[:3]] == ["1", "2", "3"]
    first = histories[0].interactions[0]
    assert (first.item_id, first.timestamp, first.rating, first.behaviour) == (
        "2294",
        1260759108,
        2.0,
        "rating",
    )
    for history in histories:
        stamps = [i.timestamp for i in history.interactions]
        assert stamps == sorted(stamps)
        assert all(i.rating is not None and 0.5 <= i.rating <= 5.0 for i in history.interactions)


def test_movie_fields(movielens_catalogue: tuple[Path, CatalogueManifest]) -> None:
    items = {item.item_id: item for item in read_items(movielens_catalogue[0])}
    toy_story = items["1"]
    assert toy_story.title == "Toy Story (1995)"
    # The rarest of its genres: Animation, not Adventure or Comedy.
    assert toy_story.category_path == ["Movies", "Animation"]
    assert "Genres: Adventure, Animation, Children, Comedy, Fantasy." in toy_story.description
    assert "Year: 1995." in toy_story.description
    assert "Tags: pixar." in toy_story.description
    assert all(item.category_path[0] == "Movies" for item in items.values())
    assert not any(item.category_path[-1] == "IMAX" for item in items.values())


def test_other_users_and_their_movies_only(small_movielens: Path, tmp_path: Path) -> None:
    manifest = import_dataset(small_movielens, tmp_path / "catalogue")
    histories = list(iter_histories(tmp_path / "catalogue"))
    assert [h.user_id for h in histories] == ["1", "2", "3", "5", "23"]
    assert manifest.items == len(read_items(tmp_path / "catalogue")) < 9125
    assert manifest.interactions == sum(len(h.interactions) for h in histories)
