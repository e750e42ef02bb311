from agent_training import targets
from tags.validation import shape_problem


def test_one_word_categories_become_tags_the_validator_accepts() -> None:
    parents = {"Screws": "Fasteners", "Lab Pipettes": "Lab & Scientific Products"}
    assert targets.tag_text("Lab Pipettes", parents) == "Lab Pipettes"
    screws = targets.tag_text("Screws", parents)
    assert screws == "Fasteners Screws" and shape_problem(screws) is None
    assert targets.tag_text("", parents) is None
    long = targets.tag_text("Wiring & Connecting Terminals Butt Splice Connectors Heat Shrink", parents)
    assert long is not None and len(long) <= 40 and shape_problem(long) is None
