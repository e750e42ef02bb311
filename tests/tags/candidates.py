"""The statistics' candidates over the lab catalogue, for the ranking and choose modes' tests."""

from __future__ import annotations

from prometheus_client import REGISTRY

from recgpt_domain.catalogue import Interaction, UserHistory
from recgpt_domain.tag_ranking import Candidates
from tests.lab_catalogue import ITEMS

BY_ID = {item.item_id: item for item in ITEMS}


def all_fallbacks() -> float:
    """The tag agent's fallbacks, whatever the reason."""
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "recgpt_agent_fallbacks"
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels.get("agent") == "tag_predictor"
    )


def history(user: str, *item_ids: str) -> UserHistory:
    return UserHistory(
        user_id=user, interactions=[Interaction(item_id=i, timestamp=n) for n, i in enumerate(item_ids)]
    )


# After Beakers come Pipettes (twice), then Gloves (once); Glues follow Gloves.
HISTORIES = [
    history("a", "b1", "p1", "n1", "g1"),
    history("b", "b1", "p1"),
    history("c", "b1", "n1"),
    history("d", "t1", "s1"),
]
CANDIDATES = Candidates.count(HISTORIES, BY_ID)
