"""FastAPI dependencies: what a route needs, taken from the app's state that the lifespan filled.

They are `async def` on purpose: FastAPI runs plain `def` dependencies in a worker thread, a thread hop
per dependency per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from experiments.serving import Experiments
from gateway.clients import GatewayDeps
from gateway.pipelines.last_resort import LastResortPage
from gateway.pipelines.registry import PipelineRegistry
from gateway.settings import GatewaySettings
from recgpt_serving.drain import Drain


async def get_settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


async def get_deps(request: Request) -> GatewayDeps:
    deps: GatewayDeps = request.app.state.deps
    return deps


async def get_last_resort(request: Request) -> LastResortPage:
    page: LastResortPage = request.app.state.last_resort
    return page


async def get_pipelines(request: Request) -> PipelineRegistry:
    """Every variant by name; the request picks one until A/B routing picks it per user."""
    pipelines: PipelineRegistry = request.app.state.pipelines
    return pipelines


async def get_drain(request: Request) -> Drain:
    drain: Drain = request.app.state.drain
    return drain


async def get_experiments(request: Request) -> Experiments:
    experiments: Experiments = request.app.state.experiments
    return experiments


SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
ClientsDep = Annotated[GatewayDeps, Depends(get_deps)]
PipelinesDep = Annotated[PipelineRegistry, Depends(get_pipelines)]
LastResortDep = Annotated[LastResortPage, Depends(get_last_resort)]
ExperimentsDep = Annotated[Experiments, Depends(get_experiments)]
DrainDep = Annotated[Drain, Depends(get_drain)]
