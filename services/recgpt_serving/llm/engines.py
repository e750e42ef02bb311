"""Which engine a call goes to: the shared one (base model and every LoRA adapter), or an agent's own.

An agent's own engine serves one model: its adapter merged into the base weights (`make merge-adapter`),
without LoRA, under the name `RECGPT_LLM_AGENT_ENGINES` gives (`tag_expert=<model>@http://host:port/v1`).
That agent's calls name that model and go there; every other agent's stay on the shared engine. An
experiment arm that overrides the agent's adapter is served as before, on the shared engine with LoRA: the
merged engine holds one adapter, and an arm asks for a choice, never for a serving mode. Which adapter an
engine holds, and that it learnt the prompt the agent asks, is settled where the engine is chosen (`make run`
serves the merged folder of the adapter the agent would be served as LoRA); the client does not ask again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from recgpt_serving import context

_SCHEMES = ("http://", "https://")


@dataclass(frozen=True)
class AgentEngine:
    """An engine of one agent's own: the model name it serves and its OpenAI-compatible API root."""

    model: str
    endpoint: str


def parse_agent_engines(text: str) -> dict[str, AgentEngine]:
    """ "agent=model@http://host:port/v1,..." as a mapping; ValueError naming the first malformed pair."""
    engines: dict[str, AgentEngine] = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        agent, _, target = (side.strip() for side in pair.partition("="))
        model, _, endpoint = (side.strip() for side in target.partition("@"))
        if not (agent and model and endpoint.startswith(_SCHEMES)) or "://" in model:
            raise ValueError(f"agent engine {pair!r} is not agent=model@http://host:port/v1")
        if agent in engines:
            raise ValueError(f"agent engine for {agent!r} given twice")
        engines[agent] = AgentEngine(model=model, endpoint=endpoint.rstrip("/"))
    return engines


class EngineRoutes:
    """The endpoints each call may use, in one place: the client's fail-over picks among them."""

    def __init__(self, shared: Sequence[str], agent_engines: Mapping[str, AgentEngine]) -> None:
        self.shared = tuple(shared)
        self._own = dict(agent_engines)

    def own_engine(self, agent: str) -> AgentEngine | None:
        """The agent's own engine; None when it has none, or this request overrides its adapter."""
        if context.current().adapter_for(agent):
            return None
        return self._own.get(agent)

    def endpoints(self, agent: str, model: str) -> tuple[str, ...]:
        """Where a call of `agent` naming `model` goes: its own engine only for that engine's model."""
        own = self.own_engine(agent)
        if own is not None and model == own.model:
            return (own.endpoint,)
        return self.shared
