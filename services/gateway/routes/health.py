"""Liveness (the process answers) and readiness (every dependency answers)."""

from __future__ import annotations

from fastapi import APIRouter

from gateway import readiness
from gateway.deps import ClientsDep, SettingsDep
from gateway.responses import OrjsonResponse
from gateway.schemas import ReadinessResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=ReadinessResponse,
    responses={503: {"model": ReadinessResponse, "description": "A dependency is not usable"}},
)
async def readyz(deps: ClientsDep, settings: SettingsDep) -> OrjsonResponse:
    checks = await readiness.check_all(deps, settings.readiness_timeout_s)
    failed = [name for name, state in checks.items() if state != readiness.OK]
    body = ReadinessResponse(ready=not failed, checks=checks, failed=failed)
    return OrjsonResponse(body.model_dump(), status_code=503 if failed else 200)
