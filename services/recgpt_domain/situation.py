"""The shopper's situation RecGPT-V2 writes explanations for: season, time of day, the persona of the tag.

It arrives as the Explain request's free `situation` map; normalised here into a few bounded values, so that
it can key a cache (`kind`) and be checked against what a text names (a summer explanation shown in winter).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from recgpt_domain import grounding
from recgpt_domain.environment import season
from recgpt_domain.profile_store import METHOD_V2, UserProfile

SEASONS = ("spring", "summer", "autumn", "winter")
DAYPARTS = ("morning", "afternoon", "evening", "night")
_SEASON_WORDS = {"spring": "spring", "summer": "summer", "autumn": "autumn", "winter": "winter"}
_DAYPART_WORDS = {
    "morning": "morning",
    "afternoon": "afternoon",
    "evening": "evening",
    "night": "night",
    "tonight": "night",
    "overnight": "night",
}
_PERSONA_CHARS = 80


@dataclass(frozen=True)
class Situation:
    season: str = ""
    time_of_day: str = ""
    persona: str = ""

    @classmethod
    def from_map(cls, values: Mapping[str, str]) -> Situation:
        """Known keys only (season, time_of_day, persona); an unknown season or time of day is left out."""
        season = values.get("season", "").strip().lower()
        season = "autumn" if season == "fall" else season
        daypart = _DAYPART_WORDS.get(values.get("time_of_day", "").strip().lower(), "")
        persona = " ".join(values.get("persona", "").split())[:_PERSONA_CHARS]
        return cls(season if season in SEASONS else "", daypart, persona)

    @classmethod
    def at(cls, moment: datetime, persona: str = "") -> Situation:
        """The season and time of day of a local time."""
        hour = moment.hour
        daypart = (
            "morning" if 5 <= hour < 12 else "afternoon" if hour < 17 else "evening" if hour < 22 else "night"
        )
        return cls(season(moment), daypart if hour >= 5 else "night", persona)

    @classmethod
    def at_unix(cls, unix_s: float, persona: str = "") -> Situation:
        """The situation at a clock reading, in UTC as the planner's environment block reads its date: the
        near-line job that writes a text and the gateway that reads it must key it alike, whatever their
        hosts' time zones."""
        return cls.at(datetime.fromtimestamp(unix_s, UTC), persona)

    def as_map(self) -> dict[str, str]:
        """The Explain request's `situation` map (what `from_map` reads back): the known values only."""
        values = {"season": self.season, "time_of_day": self.time_of_day, "persona": self.persona}
        return {key: value for key, value in values.items() if value}

    @property
    def kind(self) -> str:
        """A short key of the situation, the same for the same situation: what a style guideline depends on
        besides the interest and the item."""
        persona = hashlib.sha1(self.persona.casefold().encode()).hexdigest()[:8] if self.persona else "-"
        return f"{self.season or '-'}.{self.time_of_day or '-'}.{persona}"

    def describe(self) -> str:
        """One line for a prompt; empty when nothing is known."""
        parts = []
        if self.season:
            parts.append(f"season: {self.season}")
        if self.time_of_day:
            parts.append(f"time of day: {self.time_of_day}")
        if self.persona:
            parts.append(f"shopper persona: {self.persona}")
        return "; ".join(parts)


def tag_persona(profile: UserProfile, interest: str) -> str:
    """The persona a V2 profile's tag with this interest came from: the interest itself when it is one of the
    profile's personas (a V2 profile's interests); empty for a V1 profile and for the tags of the V2 chain's
    V1 path, whose interests are mined ones."""
    if profile.method != METHOD_V2:
        return ""
    wanted = _folded(interest)
    for persona in profile.interests:
        if wanted and _folded(persona.interest) == wanted:
            return " ".join(persona.interest.split())
    return ""


def _folded(text: str) -> str:
    return " ".join(text.split()).casefold()


def named_seasons(text: str) -> set[str]:
    """Seasons a text names ("fall" is left out: it is a verb far more often)."""
    return {_SEASON_WORDS[word] for word in grounding.words(text) if word in _SEASON_WORDS}


def named_dayparts(text: str) -> set[str]:
    return {_DAYPART_WORDS[word] for word in grounding.words(text) if word in _DAYPART_WORDS}
