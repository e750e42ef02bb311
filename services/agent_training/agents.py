"""The agents that can be trained, by the names their services log under (the adapter folders' names)."""

from __future__ import annotations

from typing import Final, Literal

from explain import prompts as explain_prompts
from intent import prompts as intent_prompts
from judge import prompts as judge_prompts
from recgpt_domain.prompt_versions import served_prompt_versions
from tags import prompts as tag_prompts

AgentName = Literal["interest_miner", "tag_predictor", "explainer", "judge_verdict", "tag_expert"]
INTERESTS: Final[AgentName] = "interest_miner"
TAGS: Final[AgentName] = "tag_predictor"
EXPLANATIONS: Final[AgentName] = "explainer"
# The judge's yes/no verdict (judge.prompts' questions), learnt on discrimination pairs: an agent of its
# own, so that the judge's criteria prompt is never served an adapter trained on other questions.
JUDGE: Final[AgentName] = "judge_verdict"
# RecGPT-V2's persona expert: chooses among its pool's categories (tags.prompts.expert_messages).
EXPERT: Final[AgentName] = "tag_expert"
AGENTS: tuple[AgentName, ...] = (INTERESTS, TAGS, EXPLANATIONS, JUDGE, EXPERT)
# Those whose examples are users' logs cut in time (agent_training.data); the judge's are pairs (judge_data).
BEHAVIOUR_AGENTS: tuple[AgentName, ...] = (INTERESTS, TAGS, EXPLANATIONS, EXPERT)

# The services' own names must be these (one place for each concern: the services name themselves).
assert (
    intent_prompts.AGENT,
    tag_prompts.AGENT,
    explain_prompts.AGENT,
    judge_prompts.VERDICT_AGENT,
    tag_prompts.EXPERT_AGENT,
) == AGENTS

# The launcher reads the agents' names and served prompts from recgpt_domain (it may not import services).
assert tuple(served_prompt_versions()) == AGENTS

PROMPT_VERSIONS: dict[AgentName, str] = {
    INTERESTS: intent_prompts.PROMPT_VERSION,
    TAGS: tag_prompts.PROMPT_VERSION,
    EXPLANATIONS: explain_prompts.PROMPT_VERSION,
    JUDGE: judge_prompts.YES_NO_VERSION,
    EXPERT: tag_prompts.EXPERT_PROMPT_VERSION,
}

_ALIASES: dict[str, AgentName] = {
    "interest": INTERESTS,
    "interests": INTERESTS,
    "intent": INTERESTS,
    "tag": TAGS,
    "tags": TAGS,
    "explanation": EXPLANATIONS,
    "explanations": EXPLANATIONS,
    "explain": EXPLANATIONS,
    "judge": JUDGE,
    "verdict": JUDGE,
    "expert": EXPERT,
    "experts": EXPERT,
    "tag_experts": EXPERT,
}


class UnknownAgent(ValueError):
    pass


def resolve(name: str) -> AgentName:
    """The agent `name` means: its own name or a short alias (tags, interests, explanations)."""
    key = name.strip().lower()
    for agent in AGENTS:
        if key == agent:
            return agent
    if key in _ALIASES:
        return _ALIASES[key]
    raise UnknownAgent(
        f"unknown agent {name!r}: one of {', '.join(AGENTS)} "
        "(or tags, interests, explanations, judge, experts)"
    )
