"""Bad input is a 422 or 413 with a reason, never a 500."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.schemas import MAX_CONTEXT_ENTRIES, MAX_ITEMS
from tests.gateway.callers import INTERNAL

URL = "/v1/recommend"
MAX_USER_ID = 128
BIG = 80 * 1024


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": "alice", "n": 0},
        {"user_id": "alice", "n": 101},
        {"user_id": "alice", "n": "x"},
        {"user_id": "alice", "n": "5"},
        {"user_id": "alice", "n": 2.5},
        {"user_id": "alice", "n": True},
        {"n": 5},
        {"user_id": ""},
        {"user_id": 42},
        {"user_id": "has space"},
        {"user_id": "u" * 129},
        {"user_id": "alice", "colour": "red"},
        {"user_id": "alice", "context": {"nested": {"a": 1}}},
        {"user_id": "alice", "context": {f"k{i}": i for i in range(17)}},
        {"user_id": "alice", "context": {"page": "p" * 257}},
        {"user_id": "alice", "context": ["page"]},
        [{"user_id": "alice"}],
        "alice",
        None,
    ],
)
async def test_invalid_json_bodies_are_422_with_a_reason(gateway: httpx.AsyncClient, body: Any) -> None:
    response = await gateway.post(URL, json=body)

    assert response.status_code == 422, response.text
    payload = response.json()
    assert payload["reason"].startswith("invalid request")
    assert payload["detail"]
    assert payload["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize("n", [85.0, 1.0, 1e2])
async def test_a_whole_number_written_as_a_float_is_an_integer(gateway: httpx.AsyncClient, n: float) -> None:
    # JSON Schema's "integer" (what /openapi.json publishes for n) includes 85.0.
    response = await gateway.post(URL, json={"user_id": "alice", "n": n})
    as_int = await gateway.post(URL, json={"user_id": "alice", "n": int(n)})

    assert response.status_code == 200, response.text
    assert response.json()["items"] == as_int.json()["items"]


async def test_the_largest_body_the_schema_allows_is_not_refused_for_its_size(
    gateway: httpx.AsyncClient,
) -> None:
    astral = "\U0001f52c"  # one character, twelve bytes once escaped as a surrogate pair
    body = {
        "user_id": '"' * MAX_USER_ID,  # each escaped as two bytes
        "n": MAX_ITEMS,
        "variant": "recgpt-v1",
        "context": {f"{i:02d}" + astral * 62: astral * 256 for i in range(MAX_CONTEXT_ENTRIES)},
    }
    content = json.dumps(body, ensure_ascii=True).encode()
    assert len(content) > 60_000

    response = await gateway.post(URL, content=content, headers={"content-type": "application/json"})

    assert response.status_code == 200, response.text[:300]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"user_id": "alice", "n": ', "application/json"),
        (b"not json at all", "application/json"),
        (b'{"user_id": "alice"}', "text/plain"),
        (b"\xff\xfe\x00", "application/json"),
        (b"[" * 15_000, "application/json"),
        (b"[" * 60_000, "application/json"),
        (b"", "application/json"),
    ],
)
async def test_malformed_bodies_are_422(
    gateway: httpx.AsyncClient, content: bytes, content_type: str
) -> None:
    response = await gateway.post(URL, content=content, headers={"content-type": content_type})

    assert response.status_code == 422, response.text
    assert response.json()["reason"].startswith("invalid request")


async def test_oversized_body_with_content_length_is_413(gateway: httpx.AsyncClient) -> None:
    content = b'{"user_id": "' + b"a" * BIG + b'"}'

    response = await gateway.post(URL, content=content, headers={"content-type": "application/json"})

    assert response.status_code == 413
    assert "larger than" in response.json()["reason"]


async def test_oversized_streamed_body_without_content_length_is_413(
    gateway: httpx.AsyncClient,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"user_id": "'
        for _ in range(80):
            yield b"a" * 1024
        yield b'"}'

    request = gateway.build_request(
        "POST", URL, content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in request.headers

    response = await gateway.send(request)

    assert response.status_code == 413
    assert "larger than" in response.json()["reason"]


async def test_small_streamed_body_is_served(gateway: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"user_id": '
        yield b'"alice", "n": 3}'

    response = await gateway.post(URL, content=chunks(), headers={"content-type": "application/json"})

    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == 3


async def test_unknown_path_and_wrong_method_answer_json(gateway: httpx.AsyncClient) -> None:
    missing = await gateway.get("/v2/nothing")
    wrong_method = await gateway.get(URL)

    assert missing.status_code == 404
    assert missing.json()["reason"] == "Not Found"
    assert wrong_method.status_code == 405


async def test_a_wrong_method_names_every_method_of_the_path(gateway: httpx.AsyncClient) -> None:
    """Each method is its own route (its own operation id): the 405 still lists them all."""
    preferences = await gateway.put("/v1/feed/preferences", params={"user_id": "erin"})
    keys = await gateway.options(INTERNAL + "/v1/admin/keys")

    assert preferences.status_code == 405
    assert preferences.headers["allow"] == "DELETE, GET"
    assert keys.status_code == 405
    assert keys.headers["allow"] == "GET, POST"
