"""The admin API: the experiment config, replaced whole and read back (keys with the admin scope; the scope
is required where the router is included)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from redis.exceptions import RedisError

from experiments.config import ConfigProblems, ExperimentConfig
from gateway.deps import ExperimentsDep
from gateway.schemas import ErrorResponse
from recgpt_serving.metrics import EXPERIMENT_CONFIG_CHANGES

router = APIRouter(tags=["admin"])


@router.put(
    "/v1/admin/experiments",
    responses={
        413: {"model": ErrorResponse, "description": "Request body too large"},
        422: {"model": ErrorResponse, "description": "Invalid config: the old one keeps serving"},
        503: {
            "model": ErrorResponse,
            "description": "Config store unavailable: the old config keeps serving",
        },
    },
)
async def put_config(config: ExperimentConfig, experiments: ExperimentsDep) -> dict[str, Any]:
    """Replaces the whole config once it is valid; every change is kept in the history with its time."""
    try:
        revision = await experiments.runtime.apply(config, "admin-api")
    except ConfigProblems as problems:
        EXPERIMENT_CONFIG_CHANGES.labels("invalid").inc()
        raise HTTPException(422, f"invalid config, the old one keeps serving: {problems}") from problems
    except (RedisError, TimeoutError, OSError) as error:
        EXPERIMENT_CONFIG_CHANGES.labels("store_unavailable").inc()
        raise HTTPException(
            503, "config store unavailable: nothing changed, the old config keeps serving; retry"
        ) from error
    EXPERIMENT_CONFIG_CHANGES.labels("applied").inc()
    return {"revision": revision}


# Its own path: Starlette answers a wrong method with the Allow of the first route of a path only.
@router.get("/v1/admin/experiments/current")
async def get_config(experiments: ExperimentsDep) -> dict[str, Any]:
    """The config this process serves, with its revision."""
    runtime = experiments.runtime
    return {"revision": runtime.revision, "config": runtime.assigner.config.model_dump(mode="json")}


@router.get(
    "/v1/admin/experiments/history",
    responses={404: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
)
async def get_history(
    experiments: ExperimentsDep,
    revision: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Every change (revision, time, source), newest first; with `revision`, that revision's config."""
    try:
        if revision is None:
            return {"changes": await experiments.configs.history(limit)}
        stored = await experiments.configs.revision(revision)
    except (RedisError, TimeoutError, OSError) as error:
        raise HTTPException(503, "config store unavailable") from error
    if stored is None:
        raise HTTPException(404, f"no config revision {revision}")
    return {
        "revision": stored.revision,
        "saved_at_ms": stored.saved_at_ms,
        "source": stored.source,
        "config": stored.config.model_dump(mode="json"),
    }
