"""Liveness (the process answers) and readiness (requests get items, and which dependency is down)."""

from __future__ import annotations

from fastapi import APIRouter

from gateway import readiness
from gateway.deps import ClientsDep, DrainDep, LastResortDep, SettingsDep
from gateway.responses import OrjsonResponse
from gateway.schemas import ReadinessResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=ReadinessResponse,
    responses={
        503: {
            "model": ReadinessResponse,
            "description": "Requests cannot get items: retrieval is down and no last-resort page is held; "
            "or the gateway is draining to stop",
        }
    },
)
async def readyz(
    deps: ClientsDep, settings: SettingsDep, last_resort: LastResortDep, drain: DrainDep
) -> OrjsonResponse:
    """200 while requests get items, degraded or not; `failed` names the dependencies that are down.

    503 with `draining` from the first SIGTERM on, so that the load balancer stops sending requests before
    the gateway stops taking them (dependencies are then not checked)."""
    if drain.draining:
        body = ReadinessResponse(ready=False, draining=True, checks={}, failed=[])
        return OrjsonResponse(body.model_dump(), status_code=503)
    checks = await readiness.check_all(deps, settings.readiness_timeout_s)
    failed = [name for name, state in checks.items() if state != readiness.OK]
    ready = readiness.can_answer(checks, last_resort.held)
    body = ReadinessResponse(ready=ready, checks=checks, failed=failed)
    return OrjsonResponse(body.model_dump(), status_code=200 if ready else 503)
