"""The dataset an evaluation runs on: imported twice into a scratch folder (whole, and with each user's last
interaction held out, as `make eval` serves it), kept as what the evaluation needs once the folder is gone."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from evaluation.split import Split, eligible
from recgpt_domain.catalogue import iter_histories, read_items
from recgpt_domain.datasets.importer import import_dataset


@dataclass(frozen=True)
class Dataset:
    """What the evaluation needs of the imported dataset, kept after its temporary folder is gone."""

    item_ids: list[str]
    splits: list[Split]
    # sha256 of its behaviour log as imported whole, and with each user's last interaction held out.
    full_log_fingerprint: str
    held_out_fingerprint: str


def load(path: Path, dataset_format: str, prefix: str) -> Dataset:
    """Raises DatasetFormatError or CatalogueTargetError on a dataset that does not import."""
    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        catalogue = Path(scratch) / "catalogue"
        full_log = import_dataset(path, catalogue, dataset_format)
        # Imported as `make eval` brings the platform up, only to know that log when retrieval names it.
        held_out = import_dataset(path, Path(scratch) / "held-out", dataset_format, held_out_last=True)
        return Dataset(
            item_ids=[item.item_id for item in read_items(catalogue)],
            splits=eligible(iter_histories(catalogue)),
            full_log_fingerprint=full_log.behaviour_fingerprint,
            held_out_fingerprint=held_out.behaviour_fingerprint,
        )
