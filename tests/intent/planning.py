"""PlanPersonas requests and the planner's answers, as the planner's tests write them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from recgpt.common.v1 import common_pb2
from recgpt.intent.v1 import intent_pb2
from tests.recgpt_serving.llm.fake_openai import numbered_list

# 2026-12-06, a winter day.
DAY = int(datetime(2026, 12, 6, 12, tzinfo=UTC).timestamp())


def plan(*item_ids: str, **fields: Any) -> intent_pb2.PlanPersonasRequest:
    behaviour = [
        common_pb2.Interaction(item_id=item, timestamp=DAY - 100 + n) for n, item in enumerate(item_ids)
    ]
    return intent_pb2.PlanPersonasRequest(user_id="u1", behaviour=behaviour, **fields)


def answer(*personas: tuple[str, list[str]]) -> Callable[[dict[str, Any]], str]:
    """The planner's answer to the prompt it is sent: each category by its number in the prompt's numbered
    list (a name the list lacks by a number past its end)."""

    def respond(body: dict[str, Any]) -> str:
        numbers = {name: number for number, name in numbered_list(body).items()}
        past = len(numbers) + 7
        return json.dumps(
            {
                "personas": [
                    {"persona": text, "categories": [numbers.get(c, past) for c in cats]}
                    for text, cats in personas
                ]
            }
        )

    return respond
