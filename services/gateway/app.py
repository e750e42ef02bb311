"""The app factory: routes, error answers, middleware, and a lifespan that owns the connections."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from experiments.serving import Experiments, ExperimentSettings
from gateway import errors
from gateway.clients import GatewayDeps
from gateway.feed.service import FeedService
from gateway.middleware import BodyLimitMiddleware, MetricsMiddleware, RequestIdMiddleware
from gateway.pipelines import registry
from gateway.pipelines.last_resort import LastResortPage
from gateway.pipelines.live_judge import LiveJudge
from gateway.responses import OrjsonResponse
from gateway.routes import admin, events, feed, health, metrics, recommend
from gateway.routes import experiments as experiment_routes
from gateway.settings import GatewaySettings
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.preferences import PreferenceStore
from recgpt_domain.profile_store import ProfileStore

log = logging.getLogger(__name__)

SERVICE = "gateway"


def create_app(settings: GatewaySettings, *, deps: GatewayDeps | None = None) -> FastAPI:
    """The gateway app; `deps` are connections the caller owns (tests), else the lifespan opens its own."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # gRPC aio channels belong to the running loop: they are made here, not at import or factory time.
        active = deps if deps is not None else GatewayDeps.connect(settings)
        active.start_connecting()
        app.state.deps = active
        # Background live-judge calls, never awaited by a request: cancelled below at shutdown.
        live_judge = app.state.live_judge = LiveJudge(active.judge(), settings)
        # Refreshed in the background from now on, for requests that find retrieval unreachable.
        last_resort = app.state.last_resort = LastResortPage(active.retrieval(), settings)
        last_resort.start()
        app.state.pipelines = registry.build(
            active.retrieval(),
            BehaviourStore(active.redis, settings.redis_prefix),
            ProfileStore(active.redis, settings.redis_prefix),
            active.explain(),
            live_judge,
            last_resort,
            settings,
        )
        # Assignment reads the config held here; exposures are written in batches in the background.
        active_experiments = app.state.experiments = Experiments(
            active.redis, _experiment_settings(settings, list(app.state.pipelines.pipelines))
        )
        await active_experiments.start()
        app.state.feed = FeedService(
            PreferenceStore(active.redis, settings.redis_prefix),
            active.intent(),
            active.retrieval(),
            settings,
        )
        log.info(
            "gateway ready to serve",
            extra={
                "retrieval": settings.retrieval_target,
                "explain": settings.explain_target or None,
                "judge": settings.judge_target or None,
            },
        )
        try:
            yield
        finally:
            await active_experiments.close()
            await last_resort.close()
            await live_judge.close()
            if deps is None:
                await active.close()
            log.info("gateway stopped")

    app = FastAPI(
        title="RecGPT gateway",
        summary="Recommendations with a reason for each item.",
        version="0.1.0",
        lifespan=lifespan,
        default_response_class=OrjsonResponse,
    )
    app.state.settings = settings
    app.include_router(recommend.router)
    app.include_router(experiment_routes.router)
    app.include_router(events.router)
    app.include_router(admin.router)
    app.include_router(feed.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    errors.install(app)
    # Added innermost first: the request id wraps everything, so metrics and refusals carry it too.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, service=SERVICE, paths=_static_paths(app))
    app.add_middleware(RequestIdMiddleware)
    return app


def _static_paths(app: FastAPI) -> list[str]:
    return [route.path for route in app.routes if isinstance(route, APIRoute) and "{" not in route.path]


def _experiment_settings(settings: GatewaySettings, variants: list[str]) -> ExperimentSettings:
    return ExperimentSettings(
        prefix=settings.redis_prefix,
        known_variants=variants,
        config_path=settings.experiments_config_path,
        refresh_s=settings.experiments_refresh_s,
        redis_timeout_s=settings.redis_deadline_s,
        exposure_flush_s=settings.exposure_flush_s,
        exposure_buffer_max=settings.exposure_buffer_max,
        event_dedup_ttl_s=settings.event_dedup_ttl_s,
        catalogue_dir=settings.experiments_catalogue_dir,
    )
