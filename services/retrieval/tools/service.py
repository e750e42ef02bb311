"""PlanTools: checks the request, sets up the state (exclusions, the user's behaviour), runs the plan."""

from __future__ import annotations

import numpy as np
from pydantic import ValidationError

from recgpt.retrieval.v1 import retrieval_pb2
from recgpt_domain.behaviour_store import RecentBehaviour
from recgpt_domain.preferences import Preferences
from retrieval import tools as _registered  # noqa: F401  (registers every tool)
from retrieval.retriever import Retriever
from retrieval.tools import planner
from retrieval.tools.attributes import FeedAttributes
from retrieval.tools.base import PlanState
from retrieval.validation import InvalidRequest

FEED_ROUTE = "feed"
MAX_BASE_ITEMS = 500
MAX_EXCLUDED = 1000


def preferences(request: retrieval_pb2.PlanToolsRequest) -> Preferences:
    try:
        return Preferences.from_pb(request.preferences)
    except ValidationError as error:
        raise InvalidRequest(f"invalid preferences: {error.errors()[0]['msg']}") from None


async def plan_tools(
    retriever: Retriever,
    attributes: FeedAttributes,
    request: retrieval_pb2.PlanToolsRequest,
    behaviour: RecentBehaviour | None,
    top_k: int,
) -> retrieval_pb2.PlanToolsResponse:
    prefs = preferences(request)
    if len(request.base) > MAX_BASE_ITEMS or len(request.exclude_item_ids) > MAX_EXCLUDED:
        raise InvalidRequest(f"at most {MAX_BASE_ITEMS} base items and {MAX_EXCLUDED} excluded items")
    table = retriever.table
    response = retrieval_pb2.PlanToolsResponse()
    if behaviour is None:
        response.degraded.append(retrieval_pb2.DEGRADATION_USER_BEHAVIOUR)
        behaviour = RecentBehaviour([], set())
    state = PlanState(
        retriever=retriever,
        attributes=attributes,
        preferences=prefs,
        top_k=top_k,
        recent_rows=table.rows_for(behaviour.recent_item_ids),
        seen_rows=table.rows_for(behaviour.seen),
        exclude_rows=table.rows_for(request.exclude_item_ids),
        base=list(request.base),
        allowed=np.ones(attributes.size, dtype=np.bool_),
    )
    response.plan.extend(await planner.run_setup(state))
    response.allowed_items = int(state.allowed.sum())
    state.allowed[np.asarray([*state.seen_rows, *state.exclude_rows], dtype=np.int64)] = False
    response.plan.extend(await planner.run_ranking(state))
    messages = table.messages
    final = state.final if state.final is not None else state.behaviour
    for row in state.ranked:
        scored = response.items.add(score=float(final[row]), route=state.routes.get(row, FEED_ROUTE))
        scored.item.CopyFrom(messages[row])
    return response
