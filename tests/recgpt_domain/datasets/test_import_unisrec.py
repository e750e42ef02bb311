"""UniSRec/RecBole atomic files -> catalogue: the real Amazon dataset and folders cut from it."""

from __future__ import annotations

from pathlib import Path

from recgpt_domain.catalogue import CatalogueManifest, iter_histories, read_items, read_manifest
from recgpt_domain.datasets.importer import import_dataset
from recgpt_domain.datasets.unisrec import stitch
from tests.recgpt_domain.datasets.dataset_subsets import unisrec_subset

USER_0_ITEMS = [
    "B00TNNWMXI", "B00IBZE2EQ", "B010Y25PQC", "B00I8NM6JO", "B00ZAUR6M0", "B00MN5X2Z0", "B00YSPIKD2",
    "B01GG1F006", "B002BBGTK6", "B00MVIPK68", "B01092XXD4", "B010Y25QZ2", "B00THZKC8Y", "B0147CJTSA",
]  # fmt: skip


def test_counts_of_the_real_dataset(amazon_catalogue: tuple[Path, CatalogueManifest]) -> None:
    folder, manifest = amazon_catalogue
    assert (manifest.source_format, manifest.items, manifest.users) == ("unisrec", 4385, 6679)
    # Every interaction, including the starts of the 3 sequences longer than the 50-item window.
    assert manifest.interactions == 47045
    assert read_manifest(folder) == manifest
    assert manifest.source_fingerprint and manifest.behaviour_fingerprint


def test_user_0_is_rebuilt_in_order(amazon_catalogue: tuple[Path, CatalogueManifest]) -> None:
    first = next(iter_histories(amazon_catalogue[0]))
    assert first.user_id == "ABW8NXS7SV55K"
    assert [i.item_id for i in first.interactions] == USER_0_ITEMS
    assert {(i.behaviour, i.timestamp, i.rating) for i in first.interactions} == {("review", 0, None)}


def test_every_inter_line_is_a_window_of_the_rebuilt_sequence(
    amazon_dir: Path, amazon_catalogue: tuple[Path, CatalogueManifest]
) -> None:
    users = dict(_pairs(amazon_dir / "Scientific.user2index"))
    items = dict(_pairs(amazon_dir / "Scientific.item2index"))
    sequences = {h.user_id: [i.item_id for i in h.interactions] for h in iter_histories(amazon_catalogue[0])}
    for split in ("train", "valid", "test"):
        for line in (amazon_dir / f"Scientific.{split}.inter").read_text().splitlines()[1:]:
            user, prefix, target = line.split("\t")
            window = [items[i] for i in [*prefix.split(), target]]
            sequence = sequences[users[user]]
            starts = range(len(sequence) - len(window) + 1)
            assert any(sequence[s : s + len(window)] == window for s in starts), line
            if len(window) < 51:
                assert sequence[: len(window)] == window, line


def test_item_fields(amazon_catalogue: tuple[Path, CatalogueManifest]) -> None:
    items = {item.item_id: item for item in read_items(amazon_catalogue[0])}
    sanding = items["B0000223SI"]
    assert sanding.title == "PORTER-CABLE 740000801 4 1/2-Inch x 10yd 80 Grit Adhesive-Backed Sanding Roll"
    assert sanding.brand == "PORTER-CABLE"
    assert sanding.category_path == [
        "Industrial & Scientific",
        "Abrasive & Finishing Products",
        "Manual Sanding Products Sanding Rolls",
    ]
    assert sanding.description.startswith("Amazon.com This superior quality")
    # The description column is a list literal; its text is kept, not the brackets and quotes.
    assert not any(item.description.startswith("[") for item in items.values())
    assert sum(1 for item in items.values() if item.description) > 2400
    assert {len(item.category_path) for item in items.values()} == {0, 2, 3}


def test_stitch_rebuilds_sequences_longer_than_the_window() -> None:
    full = list(range(10))
    width = 4  # at most 3 prefix items + the target
    windows = [full[max(0, t - 3) : t + 1] for t in range(1, 10)]
    assert stitch(windows, width) == full
    assert stitch([[5, 6, 7, 8], [6, 7, 8, 9]], width) == [5, 6, 7, 8, 9]
    assert stitch([[1, 2], [1, 2, 3]], 3) == [1, 2, 3]


def test_other_users_other_items_other_name(amazon_dir: Path, tmp_path: Path) -> None:
    source = unisrec_subset(amazon_dir, tmp_path / "office", "Office", range(1000, 1200))
    manifest = import_dataset(source, tmp_path / "catalogue")
    histories = list(iter_histories(tmp_path / "catalogue"))
    real_users = dict(_pairs(amazon_dir / "Scientific.user2index"))
    assert manifest.users == len(histories) == sum(1 for u in real_users if 1000 <= int(u) < 1200)
    item_ids = {item.item_id for item in read_items(tmp_path / "catalogue")}
    assert manifest.items == len(item_ids) < 4385
    assert {i.item_id for h in histories for i in h.interactions} <= item_ids
    assert manifest.interactions == sum(len(h.interactions) for h in histories)


def _pairs(path: Path) -> list[tuple[str, str]]:
    """(index, original id) of an .item2index / .user2index file."""
    return [
        (index, original) for original, index in (line.split("\t") for line in path.read_text().splitlines())
    ]
