"""FastAPI dependencies: what a route needs, taken from the app's state that the lifespan filled.

They are `async def` on purpose: FastAPI runs plain `def` dependencies in a worker thread, a thread hop
per dependency per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.clients import GatewayDeps
from gateway.pipelines import Pipeline
from gateway.settings import GatewaySettings


async def get_settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


async def get_deps(request: Request) -> GatewayDeps:
    deps: GatewayDeps = request.app.state.deps
    return deps


async def get_pipeline(request: Request) -> Pipeline:
    """The baseline for every user until A/B routing picks a variant per user."""
    pipeline: Pipeline = request.app.state.pipeline
    return pipeline


SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
ClientsDep = Annotated[GatewayDeps, Depends(get_deps)]
PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]
