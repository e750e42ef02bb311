"""What a format reader hands to the writer: the canonical items and histories, and the files it read."""

from __future__ import annotations

from dataclasses import dataclass, field

from recgpt_runtime.catalogue import Item, UserHistory


@dataclass
class ImportedDataset:
    items: list[Item]
    histories: list[UserHistory]
    # Notes for the operator (e.g. the category levels inferred), printed by the CLI.
    notes: list[str] = field(default_factory=list)

    @property
    def interactions(self) -> int:
        return sum(len(history.interactions) for history in self.histories)
