"""Order of the integration tests sharing one platform."""

from __future__ import annotations

import pytest

# Loads the shared platform for minutes and leaves the near-line worker a backlog of LLM refreshes: it runs
# last, so that the backlog never delays the LLM answers other tests wait for.
LAST = "test_prometheus_dashboards.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name == LAST)
