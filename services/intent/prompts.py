"""The interest miner's prompt: a shopping guide reads the compressed behaviour and names interests."""

from __future__ import annotations

from collections.abc import Sequence

from recgpt_domain import tag_choice as choosing
from recgpt_domain.prompt_versions import INTERESTS_V1, PLANNER_V2
from recgpt_serving.llm.client import Message

# The agent's name in metrics and LLM logs.
AGENT = "interest_miner"
PROMPT_VERSION = INTERESTS_V1

SYSTEM = (
    "You are an experienced shopping guide. From what a customer recently bought or reviewed, "
    "you infer their shopping interests. Answer in JSON only."
)

# Fixed phrases of the prompt: an "interest" that repeats one of them is an echo, not an interest.
ECHO_PHRASES = (
    "shopping guide",
    "shopping interest",
    "shopping interests",
    "customer",
    "recent behaviour",
    "recently bought",
    "short phrase",
    "json",
    "items",
)


def messages(behaviour_text: str, max_interests: int) -> list[Message]:
    user = (
        "The customer's recent behaviour, grouped by category, most recent first "
        "(xN = bought N times):\n"
        f"{behaviour_text}\n\n"
        f"List up to {max_interests} distinct interests of this customer, most important first. "
        "Each interest is a short phrase of 1 to 5 words (a kind of product, activity or need, "
        "not a brand or a single item title), with a one-sentence reason that cites the behaviour.\n"
        'Answer as {"interests": [{"interest": "...", "reason": "..."}]}.'
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


# RecGPT-V2's global planner: its own agent name and prompt version.
PLANNER_AGENT = "persona_planner"
PLANNER_PROMPT_VERSION = PLANNER_V2

PLANNER_SYSTEM = (
    "You are an experienced shopping planner. From a customer's behaviour and situation you describe the "
    "different kinds of shopper they are (personas), and the product categories each one shops in. "
    "Answer in JSON only."
)


def planner_messages(
    behaviour_text: str, environment: str, choices: Sequence[str], personas: int, max_categories: int
) -> list[Message]:
    """The planner reads the behaviour once and names `personas` personas over `choices`."""
    user = (
        "The customer's recent behaviour, grouped by category, most recent first:\n"
        f"{behaviour_text}\n\n"
        f"Situation:\n{environment}\n\n"
        f"Categories you may name:\n{choosing.numbered(choices)}\n\n"
        f"Describe {personas} different personas of this customer, each one short sentence about what that "
        f"side of them shops for and why, resting on 1 to {max_categories} of the categories above. No two "
        "personas rest on the same categories.\n"
        'Answer with the numbers of the categories, as {"personas": [{"persona": "...", "categories": [2]}]}.'
    )
    return [{"role": "system", "content": PLANNER_SYSTEM}, {"role": "user", "content": user}]
