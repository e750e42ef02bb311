"""The LLM-driven simulated user: the model is told the held-out item's attributes (never its title or id)
and what the page shows, and writes the next command. A command that names the item, or an unusable
answer, is replaced by the templated user's command for that round, and counted."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from evaluation.feed.simulator import TemplatedUser
from recgpt_domain.catalogue import Item
from recgpt_domain.item_attributes import categories_of, year_of
from recgpt_serving.llm.client import LlmClient
from recgpt_serving.llm.errors import LlmError

AGENT = "feed_simulator"


class SimulatedCommand(BaseModel):
    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})

    command: str = Field(json_schema_extra={"minLength": 3, "maxLength": 160})


class LlmUser:
    def __init__(self, llm: LlmClient, templated: TemplatedUser, deadline_s: float = 30.0) -> None:
        self.llm = llm
        self.templated = templated
        self.deadline_s = deadline_s
        self.replaced = 0
        self.written = 0

    def _facts(self) -> str:
        target = self.templated.target
        facts = [f"categories: {', '.join(categories_of(target))}"]
        if target.brand:
            facts.append(f"brand: {target.brand}")
        year = year_of(target)
        if year is not None:
            facts.append(f"decade: {year // 10 * 10}s")
        if self.templated.mean_rating is not None:
            facts.append(f"mean rating: {self.templated.mean_rating:.1f} of 5")
        return "; ".join(facts)

    async def command(self, round_number: int, page: Sequence[Item]) -> str:
        shown = "; ".join(item.title[:60] for item in page[:5]) or "nothing yet"
        messages = [
            {
                "role": "system",
                "content": "You are a shopper steering a recommendation feed with one short command. "
                "Describe what you want; never give an item's exact name.",
            },
            {
                "role": "user",
                "content": f"You want an item with {self._facts()}. The feed shows: {shown}. "
                f"Round {round_number}: write your command.",
            },
        ]
        try:
            result = await self.llm.structured(
                AGENT, messages, SimulatedCommand, deadline_s=self.deadline_s, max_tokens=60, temperature=0.7
            )
        except LlmError:
            return self._replace(round_number, page)
        text = result.value.command.strip()
        target = self.templated.target
        if not text or target.title.casefold() in text.casefold() or target.item_id in text:
            return self._replace(round_number, page)
        self.written += 1
        return text

    def _replace(self, round_number: int, page: Sequence[Item]) -> str:
        self.replaced += 1
        return self.templated.command(round_number, page)
