"""Where a user is (GET /v1/experiments/assignment, public) and an experiment's report (JSON or an HTML page,
on the operators' listener)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from redis.exceptions import RedisError

from experiments import html_report
from experiments.report import UnknownExperiment, UnknownPhase, build_report
from experiments.serving import Experiments
from gateway.auth.callers import CallerDep
from gateway.deps import ExperimentsDep
from gateway.schemas import ErrorResponse, UserId

router = APIRouter(tags=["experiments"])
# The report scans two whole streams: operators only.
reports = APIRouter(tags=["experiments"])


class ArmOut(BaseModel):
    layer: str
    experiment: str
    arm: str
    forced: bool


class AssignmentResponse(BaseModel):
    user_id: str
    config_revision: int
    holdout: bool
    arms: list[ArmOut]
    # The pipeline parameters the arms set (variant, adapter, beta, n); absent ones keep the defaults.
    params: dict[str, Any]


@router.get("/v1/experiments/assignment", response_model=AssignmentResponse)
async def assignment(
    user_id: Annotated[UserId, Query()], experiments: ExperimentsDep, caller: CallerDep
) -> AssignmentResponse:
    """The user's arm in each layer, computed from the config this process serves (no I/O)."""
    caller.check_users([user_id])
    found = experiments.assign(user_id)
    return AssignmentResponse(
        user_id=user_id,
        config_revision=experiments.runtime.revision,
        holdout=found.holdout,
        arms=[ArmOut(layer=a.layer, experiment=a.experiment, arm=a.arm, forced=a.forced) for a in found.arms],
        params=found.params.model_dump(exclude_none=True),
    )


@reports.get(
    "/v1/experiments/{experiment_id}/report",
    responses={
        200: {"content": {"text/html": {}}, "description": "The report, as JSON or (format=html) a page"},
        404: {"model": ErrorResponse, "description": "Unknown experiment, or no such phase"},
        503: {"model": ErrorResponse, "description": "Redis unavailable, or every report slot busy: retry"},
    },
)
async def report(
    request: Request,
    experiment_id: Annotated[str, Path(min_length=1, max_length=128)],
    experiments: ExperimentsDep,
    format: Annotated[Literal["json", "html"], Query()] = "json",
    phase: Annotated[int | None, Query(ge=1, description="1 is the first; default: the current")] = None,
) -> Any:
    """One phase (a span with constant arm weights; a weight change starts the next) of the experiment:
    per-arm figures, lifts with fixed-horizon and always-valid intervals, the SRM check against the phase's
    weights, robust revenue, CUPED and the timeline, from the streams and the config history."""
    slots: asyncio.Semaphore = request.app.state.report_slots
    if slots.locked():
        # A report reads two whole streams: past the cap, a fast "retry" rather than a queue of them.
        raise HTTPException(503, "every report slot is busy: retry shortly", {"Retry-After": "5"})
    async with slots:
        return await _report(experiment_id, experiments, format, phase)


async def _report(experiment_id: str, experiments: Experiments, format: str, phase: int | None) -> Any:
    serving = experiments.serving()
    try:
        history = [stored async for stored in experiments.configs.iter_history()]
        built = await build_report(
            experiments.client,
            experiments.settings.prefix,
            experiment_id,
            history,
            serving,
            phase=phase,
            novelty=await experiments.novelty(),
        )
    except (UnknownExperiment, UnknownPhase) as error:
        raise HTTPException(404, error.reason) from error
    except (RedisError, TimeoutError, OSError) as error:
        raise HTTPException(503, "Redis unavailable: the report cannot be read now") from error
    if format == "html":
        return HTMLResponse(html_report.render(built))
    return built
