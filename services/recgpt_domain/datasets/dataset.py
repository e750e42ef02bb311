"""What a format reader hands to the writer: the canonical items and histories, and the files it read."""

from __future__ import annotations

from dataclasses import dataclass, field

from recgpt_domain.catalogue import Item, UserHistory


@dataclass
class ImportedDataset:
    items: list[Item]
    histories: list[UserHistory]
    # Notes for the operator (e.g. the category levels inferred), printed by the CLI.
    notes: list[str] = field(default_factory=list)
    # True when each user's last interaction was held out (leave-last-out serving, see hold_out_last).
    held_out_last: bool = False

    @property
    def interactions(self) -> int:
        return sum(len(history.interactions) for history in self.histories)


def hold_out_last(dataset: ImportedDataset) -> ImportedDataset:
    """The dataset without each user's last interaction (users with two or more), for honest evaluation.

    `recgpt-eval` holds out each user's last item as the target; a platform built from the full log has
    seen those targets (its co-occurrence counts them), so its collaborative figures would be inflated.
    """
    histories = [
        UserHistory(user_id=h.user_id, interactions=h.interactions[:-1]) if len(h.interactions) >= 2 else h
        for h in dataset.histories
    ]
    held = sum(len(h.interactions) >= 2 for h in dataset.histories)
    note = f"held out the last interaction of {held} users (leave-last-out: recgpt-eval targets stay unseen)"
    return ImportedDataset(dataset.items, histories, [*dataset.notes, note], held_out_last=True)
