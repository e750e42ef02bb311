"""Clients of the gateway app as a caller with an API key, over ASGI (no server)."""

from __future__ import annotations

from typing import Any

import httpx

# Admission settings for tests that are not about overload: their requests come one at a time (or a few), and
# a busy test machine's event-loop lag is not the gateway's overload. tests/gateway/test_gateway_admission.py
# is about it and sets its own.
NOT_SHED: dict[str, Any] = {"queue_deadline_s": 1.0, "max_in_flight": 64, "overload_lag_s": 1.0}

# The operators' listener, as the app tells it apart: by the port a request arrived on (settings' default).
INTERNAL = "http://gateway:8081"


def keyed_client(app: Any, key: str, *, timeout: float = 5) -> httpx.AsyncClient:
    """Public routes by path, the internal listener's by `INTERNAL + path`; every request with the key."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://gateway",
        headers={"authorization": f"Bearer {key}"},
        timeout=timeout,
    )
