"""Refreshers and a profile store for the near-line job without services or Redis: an engine that times out
past its capacity, one whose users end when the test says, and profiles kept in memory."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from nearline.refresh import Refreshed
from recgpt_domain.profile_store import METHOD_V1, UserProfile
from recgpt_serving.llm.usage import Usage

# Event-loop turns one user's refresh takes in the crowded engine: long enough that users in flight overlap.
TURNS = 8


def refreshed(user_id: str, fallback: bool) -> Refreshed:
    profile = UserProfile(
        user_id=user_id, interests=[], tags=[], model="m", prompt_version="v", fallback=fallback
    )
    return Refreshed(profile=profile, usage=Usage(), explanations=0)


@dataclass
class Call:
    timed_out: bool = False


class CrowdedEngine:
    """A refresher whose calls all time out together (the agents answer with their fallback) while more than
    `capacity` run at once: the all-or-nothing of a CPU engine past what it finishes within the deadline."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.running: list[Call] = []
        self.peak = 0

    async def refresh(self, user_id: str) -> Refreshed:
        call = Call()
        self.running.append(call)
        self.peak = max(self.peak, len(self.running))
        try:
            for _ in range(TURNS):
                if len(self.running) > self.capacity:
                    for other in self.running:
                        other.timed_out = True
                await asyncio.sleep(0)
        finally:
            self.running.remove(call)
        return refreshed(user_id, fallback=call.timed_out)


class GatedEngine:
    """A refresher whose users run until the test ends them, answered by the LLM or by the fallback."""

    def __init__(self) -> None:
        self.running: dict[str, asyncio.Future[bool]] = {}

    async def refresh(self, user_id: str) -> Refreshed:
        fallback = asyncio.get_running_loop().create_future()
        self.running[user_id] = fallback
        try:
            return refreshed(user_id, fallback=await fallback)
        finally:
            del self.running[user_id]

    def end_all(self, fallback: bool) -> None:
        for waiting in self.running.values():
            if not waiting.done():
                waiting.set_result(fallback)

    def reason(self, user_id: str) -> str:
        return "never fails"


class InMemoryProfiles:
    def __init__(self) -> None:
        self.stored: dict[str, UserProfile] = {}

    async def get(self, user_id: str, method: str = METHOD_V1) -> UserProfile | None:
        return self.stored.get(user_id)

    async def put(self, profile: UserProfile) -> None:
        self.stored[profile.user_id] = profile
