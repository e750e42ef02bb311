"""The tools the planner can pick from. A new tool is a module with a class and one `register` line."""

from __future__ import annotations

from retrieval.tools.base import Tool

_TOOLS: dict[str, Tool] = {}


def register(tool: Tool) -> Tool:
    if tool.name in _TOOLS:
        raise ValueError(f"tool {tool.name!r} registered twice")
    _TOOLS[tool.name] = tool
    return tool


def tools() -> list[Tool]:
    """Every registered tool, in stage order."""
    return sorted(_TOOLS.values(), key=lambda tool: (tool.stage, tool.name))


def unregister(name: str) -> None:
    _TOOLS.pop(name, None)
