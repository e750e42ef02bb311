"""The situation the near-line job writes V2 explanations for and the gateway reads them with: both derive it
the same way, or the cache keys differ."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from recgpt_domain.profile_store import METHOD_V1, METHOD_V2, ProfileInterest, ProfileTag, UserProfile
from recgpt_domain.situation import Situation, tag_persona

PERSONA = "Runs a school biology lab"


def unix(year: int, month: int, day: int, hour: int, minute: int) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (unix(2027, 1, 14, 4, 59), ("winter", "night")),
        (unix(2027, 4, 2, 5, 0), ("spring", "morning")),
        (unix(2027, 7, 1, 12, 0), ("summer", "afternoon")),
        (unix(2027, 10, 30, 22, 0), ("autumn", "night")),
    ],
)
def test_a_clock_reading_is_read_in_utc(moment: float, expected: tuple[str, str]) -> None:
    situation = Situation.at_unix(moment, "a persona")
    assert (situation.season, situation.time_of_day, situation.persona) == (*expected, "a persona")


def test_the_request_map_reads_back_to_the_same_kind_and_leaves_out_what_is_unknown() -> None:
    situation = Situation.at_unix(unix(2027, 1, 14, 20, 30), PERSONA)
    assert situation.as_map() == {"season": "winter", "time_of_day": "evening", "persona": PERSONA}
    assert Situation.from_map(situation.as_map()).kind == situation.kind
    assert Situation("winter", "evening").as_map() == {"season": "winter", "time_of_day": "evening"}


def profile(method: str) -> UserProfile:
    return UserProfile(
        user_id="ann",
        method=method,
        interests=[ProfileInterest(interest=PERSONA)],
        tags=[ProfileTag(tag="compact microscope", interest=PERSONA)],
        model="test-model",
        prompt_version="p",
    )


def test_a_tags_persona_is_its_interest_when_that_is_one_of_a_v2_profiles_personas() -> None:
    v2 = profile(METHOD_V2)
    assert tag_persona(v2, PERSONA) == PERSONA
    # As retrieval or the tag route may hand it back: spacing and case do not make another persona.
    assert tag_persona(v2, "  runs a school  BIOLOGY lab ") == PERSONA
    # A mined interest (the V2 chain's V1 path), or a V1 profile: no persona.
    assert tag_persona(v2, "lab safety") == ""
    assert tag_persona(v2, "") == ""
    assert tag_persona(profile(METHOD_V1), PERSONA) == ""
