"""End to end across real processes: gateway -> gRPC retrieval -> FAISS and Redis, as a shop would call it."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from recgpt_tools import processes
from tests.running_platform import RunningPlatform, log_lines

pytestmark = pytest.mark.integration


def _recommend(platform: RunningPlatform, body: object, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{platform.gateway_url}/v1/recommend", json=body, headers={**platform.auth(), **headers}, timeout=10
    )


def test_known_user_gets_n_distinct_unseen_items(platform: RunningPlatform) -> None:
    histories = [h for h in platform.histories() if len(h.interactions) >= 5][:5]
    for history in histories:
        response = _recommend(platform, {"user_id": history.user_id, "n": 10})
        assert response.status_code == 200, response.text
        body = response.json()
        ids = [item["item_id"] for item in body["items"]]
        assert len(ids) == 10
        assert len(set(ids)) == 10
        assert not set(ids) & {i.item_id for i in history.interactions}
        assert all(item["title"] and item["route"] for item in body["items"])
        assert body["cold_start"] is False


def test_unknown_user_gets_a_cold_start_answer(platform: RunningPlatform) -> None:
    response = _recommend(platform, {"user_id": f"nobody-{uuid.uuid4().hex}", "n": 7})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cold_start"] is True
    assert len({item["item_id"] for item in body["items"]}) == 7


@pytest.mark.parametrize(
    "body",
    [{"user_id": "u", "n": 0}, {"user_id": "u", "n": 101}, {"user_id": "u", "n": "ten"}, {"n": 3}, []],
)
def test_bad_input_is_a_422_with_a_reason(platform: RunningPlatform, body: object) -> None:
    response = _recommend(platform, body)
    assert response.status_code == 422
    assert response.json()["detail"]


def test_oversized_body_is_a_413(platform: RunningPlatform) -> None:
    body = {"user_id": "u", "n": 3, "context": {"note": "x" * 100_000}}
    assert _recommend(platform, body).status_code == 413


def test_request_id_reaches_the_retrieval_logs(platform: RunningPlatform) -> None:
    request_id = f"it-{uuid.uuid4().hex}"
    user = platform.histories()[0].user_id
    response = _recommend(platform, {"user_id": user, "n": 3}, **{"X-Request-Id": request_id})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == request_id
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        retrieval = [line for line in log_lines(platform.log_dir / "retrieval.log")]
        if any(line.get("request_id") == request_id for line in retrieval):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the gateway's request id never appeared in the retrieval service's logs")
    gateway = log_lines(platform.log_dir / "gateway.log")
    assert any(line.get("request_id") == request_id for line in gateway)


def test_readiness_and_metrics(platform: RunningPlatform) -> None:
    assert httpx.get(f"{platform.gateway_url}/healthz", timeout=5).status_code == 200
    assert httpx.get(f"{platform.gateway_url}/readyz", timeout=5).status_code == 200
    _recommend(platform, {"user_id": platform.histories()[0].user_id, "n": 3})
    gateway_metrics = httpx.get(f"{platform.gateway_internal_url}/metrics", timeout=5).text
    assert 'recgpt_requests_total{code="200",method="/v1/recommend",service="gateway"}' in gateway_metrics
    assert "recgpt_request_duration_seconds_bucket" in gateway_metrics
    retrieval_metrics = httpx.get(platform.state.metrics_urls["retrieval"], timeout=5).text
    assert 'service="retrieval"' in retrieval_metrics
    assert "recgpt_index_items" in retrieval_metrics


def test_every_started_process_is_alive_and_recorded(platform: RunningPlatform) -> None:
    names = {p.name for p in processes.recorded(platform.stack.paths.run) if processes.alive(p)}
    assert {"retrieval", "gateway", "vllm"} <= names
