"""The planner: picks the registered tools the preferences need and runs them in stage order.

It knows no tool by name: a tool that registers itself (see `registry`) is planned like the others.
"""

from __future__ import annotations

import time

from recgpt.retrieval.v1 import retrieval_pb2
from recgpt_serving import metrics
from retrieval.tools import registry
from retrieval.tools.base import PlanState, Tool

# Tools from this stage on score and rank; those before it shape the candidate set.
RANKING_STAGE = 20


def plan(state: PlanState) -> list[Tool]:
    return [tool for tool in registry.tools() if tool.needed(state.preferences)]


async def run_setup(state: PlanState) -> list[retrieval_pb2.ToolCall]:
    """The tools before ranking (behaviour, filter): the caller then applies its exclusions."""
    return await _run([tool for tool in plan(state) if tool.stage < RANKING_STAGE], state)


async def run_ranking(state: PlanState) -> list[retrieval_pb2.ToolCall]:
    return await _run([tool for tool in plan(state) if tool.stage >= RANKING_STAGE], state)


async def _run(tools: list[Tool], state: PlanState) -> list[retrieval_pb2.ToolCall]:
    calls = []
    for tool in tools:
        started = time.perf_counter()
        arguments = await tool.run(state)
        seconds = time.perf_counter() - started
        metrics.TOOL_DURATION.labels(tool.name).observe(seconds)
        calls.append(retrieval_pb2.ToolCall(tool=tool.name, arguments=arguments, seconds=seconds))
    return calls
