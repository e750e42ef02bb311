"""Entity tokens in prompts (RecGPT-V2's hybrid representation): a behaviour context whose items are markers
(`recgpt_domain.behaviour_context.entity_text`) becomes chat content parts, text around one `prompt_embeds`
part per item, which vLLM splices into the templated prompt (`--enable-prompt-embeds`).

An agent asks through `ask_structured`: the entity rendering first when the service has the vectors and
the request wants them, the text rendering when not, or when the engine refuses the embeddings (an engine
started without the flag, a width it does not take). Each outcome is counted, and the reply says how many
items went as entity tokens, so that a figure of the entity path never includes a text answer.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import torch
from pydantic import BaseModel

from recgpt.common.v1 import common_pb2
from recgpt_domain import entity_artefact
from recgpt_domain.behaviour_context import ENTITY_MARK, BehaviourContext
from recgpt_domain.entity_artefact import EntityArtefactError, EntityTable
from recgpt_serving import metrics
from recgpt_serving.llm.client import LlmClient, LlmResult, Message
from recgpt_serving.llm.errors import LlmRequestError

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)


class Outcome(StrEnum):
    """The `outcome` label of recgpt_entity_tokens_requests_total."""

    SPLICED = "spliced"
    # The request wanted entity tokens; the service has none loaded.
    NO_TABLE = "no_table"
    # None of the context's items has a vector.
    NO_ITEMS = "no_items"
    # The engine answered 4xx to the embeddings; the text answered.
    REFUSED = "refused"


class EntityTokens:
    """The served entity table and the content parts it makes."""

    def __init__(self, table: EntityTable) -> None:
        self.table = table
        self._encoded = lru_cache(maxsize=100_000)(self._encode)

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, str) and item_id in self.table.rows

    def _encode(self, item_id: str) -> str:
        """One item's (1, hidden) bfloat16 tensor as vLLM reads it: torch.save, then base64."""
        vector = self.table.vector(item_id)
        if vector is None:
            raise KeyError(item_id)
        buffer = io.BytesIO()
        torch.save(torch.from_numpy(vector).to(torch.bfloat16)[None, :].contiguous(), buffer)
        return base64.b64encode(buffer.getvalue()).decode("ascii")

    def content(self, text: str) -> str | list[dict[str, str]]:
        """`text` with its entity markers as prompt-embeds parts; unchanged when it holds none."""
        if ENTITY_MARK not in text:
            return text
        parts: list[dict[str, str]] = []
        for index, piece in enumerate(text.split(ENTITY_MARK)):
            if index % 2 == 0:
                if piece:
                    parts.append({"type": "text", "text": piece})
            else:
                parts.append({"type": "prompt_embeds", "data": self._encoded(piece)})
        return parts

    def spliced(self, messages: Iterable[Message]) -> list[Message]:
        return [
            {**message, "content": self.content(message["content"])}
            if isinstance(message.get("content"), str)
            else message
            for message in messages
        ]


def load(folder: Path | None, item_ids: Iterable[str], model: str) -> EntityTokens | None:
    """The newest artefact under `folder` when it fits the served catalogue and model; None (logged with
    the reason) when there is none or it does not fit: the agents then name items by their text."""
    if folder is None:
        return None
    try:
        found = entity_artefact.latest(folder)
        if found is None:
            log.info("no entity tokens: prompts name items by text", extra={"folder": str(folder)})
            return None
        table = entity_artefact.load(found, sorted(item_ids), model)
    except (EntityArtefactError, OSError, ValueError) as error:
        log.warning("entity tokens refused: prompts name items by text", extra={"error": str(error)})
        metrics.ENTITY_TABLE_REFUSED.inc()
        return None
    log.info("entity tokens loaded", extra={"version": table.manifest.version, "items": len(table.rows)})
    return EntityTokens(table)


def wants_entities(representation: int, default: bool) -> bool:
    """A request's `item_representation`: entity tokens asked for, or the service's default."""
    if representation == common_pb2.ITEM_REPRESENTATION_DEFAULT:
        return default
    return bool(representation == common_pb2.ITEM_REPRESENTATION_ENTITY)


@dataclass(frozen=True)
class Asked:
    """What an agent asks with: the text messages, and the entity ones when its context has entities."""

    text: list[Message]
    # None when no item of the context has an entity token.
    entity: list[Message] | None = None
    # Items the entity messages name by markers.
    entities: int = 0

    @classmethod
    def of(cls, context: BehaviourContext, messages: Callable[[str], list[Message]]) -> Asked:
        """The messages `messages` makes of the context's text and, when it has entities, of its markers."""
        if not context.entities:
            return cls(messages(context.text))
        return cls(messages(context.text), messages(context.entity_text), context.entities)


@dataclass(frozen=True)
class Answer:
    result: LlmResult[Any]
    # Items the answered prompt named by entity tokens (0: the text answered).
    entity_tokens: int


async def ask_structured(
    llm: LlmClient,
    entities: EntityTokens | None,
    agent: str,
    asked: Asked,
    want: bool,
    schema: type[T],
    **call: Any,
) -> Answer:
    """One structured call, by entity tokens when wanted and possible, else by text; LlmError propagates as
    from `LlmClient.structured` (a refusal of the embeddings is retried once as text, within the deadline
    the caller gave)."""
    if want:
        if entities is None:
            outcome = Outcome.NO_TABLE
        elif asked.entity is None:
            outcome = Outcome.NO_ITEMS
        else:
            try:
                result = await llm.structured(agent, entities.spliced(asked.entity), schema, **call)
            except LlmRequestError as error:
                log.warning(
                    "entity tokens refused by the engine", extra={"agent": agent, "error": str(error)}
                )
                outcome = Outcome.REFUSED
            else:
                metrics.ENTITY_TOKEN_REQUESTS.labels(agent, Outcome.SPLICED).inc()
                return Answer(result, asked.entities)
        metrics.ENTITY_TOKEN_REQUESTS.labels(agent, outcome).inc()
    return Answer(await llm.structured(agent, asked.text, schema, **call), 0)
