"""The tag predictor's prompt: interests and recent behaviour in, "modifier + core word" item tags out."""

from __future__ import annotations

from collections.abc import Sequence

from recgpt_domain import tag_choice as choosing
from recgpt_domain.prompt_versions import TAG_ARBITER_V2, TAG_EXPERT_V2, TAGS_CHOOSE_V1, TAGS_V1
from recgpt_serving.llm.client import Message

# The agent's name in metrics and LLM logs.
AGENT = "tag_predictor"
PROMPT_VERSION = TAGS_V1
# Choose mode asks another question (pick among the statistics' candidates): its own version.
CHOOSE_PROMPT_VERSION = TAGS_CHOOSE_V1

SYSTEM = (
    "You are an experienced shopping guide. You turn a customer's interests into item tags that a shop "
    'can search for: a modifier plus a core product word, such as "digital pipette" or "nitrile gloves". '
    "Answer in JSON only."
)


def customer(behaviour_text: str, interests: Sequence[str]) -> str:
    """What every tag prompt says of the customer (generate mode's and choose mode's)."""
    listed = "\n".join(f"- {interest}" for interest in interests)
    return (
        "The customer's recent behaviour, grouped by category, most recent first:\n"
        f"{behaviour_text}\n\n"
        f"Their interests:\n{listed}\n\n"
    )


def messages(behaviour_text: str, interests: Sequence[str], max_tags: int) -> list[Message]:
    user = (
        customer(behaviour_text, interests)
        + f"Suggest up to {max_tags} tags for new items this customer may want next (not the items they "
        "already have). Each tag has 2 to 5 words; tie it to one of the interests above and give a short "
        "rationale.\n"
        'Answer as {"tags": [{"tag": "...", "interest": "...", "rationale": "..."}]}.'
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def choose_messages(
    behaviour_text: str, interests: Sequence[str], names: Sequence[str], max_tags: int
) -> list[Message]:
    """The tag agent's task, asked as a choice among `names` (listed in the statistics' order)."""
    listed_names = choosing.numbered(names)
    user = (
        customer(behaviour_text, interests) + f"Product categories of this shop:\n{listed_names}\n\n"
        f"Choose up to {max_tags} of these categories that this customer is most likely to buy from next, "
        "the most likely first, each at most once.\n"
        f"{NUMBERS_ANSWER}"
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


# RecGPT-V2's persona experts and arbiter: agents of their own in metrics, with their own prompt versions.
EXPERT_AGENT = "tag_expert"
EXPERT_PROMPT_VERSION = TAG_EXPERT_V2
ARBITER_AGENT = "tag_arbiter"
ARBITER_PROMPT_VERSION = TAG_ARBITER_V2
NUMBERS_ANSWER = 'Answer with the numbers of the categories, as {"tags": [2, 5]}.'


def expert_messages(persona: str, short_context: str, names: Sequence[str], max_tags: int) -> list[Message]:
    """One persona's expert: its persona and the latest items only, a choice among its pool's `names`,
    answered by their numbers (`recgpt_domain.tag_choice.number_schema`)."""
    user = (
        f"A customer of this shop: {persona}\n\n"
        f"Their latest items:\n{short_context}\n\n"
        f"Product categories for this side of the customer:\n{choosing.numbered(names)}\n\n"
        f"Choose up to {max_tags} of these categories that this customer is most likely to buy from next, "
        "the most likely first, each at most once.\n"
        f"{NUMBERS_ANSWER}"
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def arbiter_messages(
    behaviour_text: str, names_by_persona: Sequence[tuple[str, Sequence[str]]], max_tags: int
) -> list[Message]:
    """The arbiter: the behaviour, and the experts' proposals under their personas (each name once),
    numbered on from one persona to the next in the order `arbiter_names` reads them back."""
    blocks, first = [], 1
    for persona, names in names_by_persona:
        blocks.append(f"{persona}:\n{choosing.numbered(names, first)}")
        first += len(names)
    proposals = "\n".join(blocks)
    user = (
        "The customer's recent behaviour, grouped by category, most recent first:\n"
        f"{behaviour_text}\n\n"
        f"Categories proposed for the sides of this customer:\n{proposals}\n\n"
        f"Choose the {max_tags} of these categories this customer is most likely to buy from next, the most "
        "likely first, each at most once.\n"
        f"{NUMBERS_ANSWER}"
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def arbiter_names(names_by_persona: Sequence[tuple[str, Sequence[str]]]) -> list[str]:
    """The names as `arbiter_messages` numbers them: the answer's number n is this list's n-th."""
    return [name for _, names in names_by_persona for name in names]
