from agent_training.heldout import UserTags, fill, report, transitions
from evaluation.split import eligible
from tests.agent_training import catalogue


def test_transitions_count_training_users_only() -> None:
    items = {item.item_id: item for item in catalogue.items()}
    splits = eligible(catalogue.histories(12))
    everyone = transitions(splits, items, reserved=set())
    none = transitions(splits, items, reserved={s.user_id for s in splits})
    assert sum(sum(c.values()) for c in everyone.values()) > 0
    assert not none


def test_llm_answers_are_scored_apart_from_fallbacks_and_topped_up() -> None:
    rows = [
        UserTags("A", frequent=["B"], frequent_transitions=["B", "A"], llm={"m": ["A"]}),
        UserTags("C", frequent=["C"], frequent_transitions=["C"], llm={"m": []}),
        UserTags("D", frequent=["E"], frequent_transitions=["E"], llm={"m": ["F"]}),
    ]
    figures = report(rows, ["m"], k=2)["models"]["m"]
    assert figures["llm_answered"] == 2 and abs(figures["fallback_share"] - 1 / 3) < 1e-9
    assert figures["hr_llm_answered"] == 0.5 and figures["frequent_on_llm_answered"] == 0.0
    # The fallback user is served its frequent categories: a hit.
    assert abs(figures["hr_all"] - 2 / 3) < 1e-9
    assert fill(["F"], ["E", "F", "G"], 2) == ["F", "E"]
