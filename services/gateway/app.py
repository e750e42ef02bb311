"""The app factory: two listeners' apps (callers' and operators'), their routes, error answers and middleware,
and a lifespan that owns the connections."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.datastructures import State
from starlette.types import Receive, Scope, Send

from experiments.serving import Experiments, ExperimentSettings
from gateway import errors
from gateway.admission import AdmissionMiddleware, LoopLag, Pool
from gateway.auth import keys as api_keys
from gateway.auth.callers import AUTH_RESPONSES, Authenticator, require
from gateway.auth.key_cache import KeyCache
from gateway.auth.keys import KeyStore
from gateway.auth.keys import Scope as KeyScope
from gateway.auth.middleware import AuthMiddleware
from gateway.auth.rate_limit import RateLimiter
from gateway.auth.user_tokens import UserTokenSettings, UserTokenVerifier
from gateway.clients import GatewayDeps
from gateway.feed.service import FeedService
from gateway.middleware import BodyLimitMiddleware, MetricsMiddleware, RequestIdMiddleware
from gateway.pipelines import registry
from gateway.pipelines.last_resort import LastResortPage
from gateway.pipelines.live_judge import LiveJudge
from gateway.responses import OrjsonResponse
from gateway.routes import admin, events, feed, health, keys, metrics, recommend
from gateway.routes import experiments as experiment_routes
from gateway.settings import GatewaySettings
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.preferences import PreferenceStore
from recgpt_domain.profile_store import ProfileStore
from recgpt_serving.drain import Drain

log = logging.getLogger(__name__)

SERVICE = "gateway"
# Answered without a key on either listener: probes, and the public API's own document.
FEED_COMMAND = "/v1/feed/command"
OPEN_PATHS = ("/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/metrics")


class Gateway:
    """One ASGI app for the two listeners: a request goes to the operators' app when it arrived on an
    internal port (the socket's own port, never a header), else to the callers' app. Both share one state
    and one lifespan (the public app's)."""

    def __init__(self, public: FastAPI, internal: FastAPI, internal_ports: Collection[int]) -> None:
        self.public = public
        self.internal = internal
        self.internal_ports = frozenset(internal_ports)
        internal.state = public.state

    @property
    def state(self) -> State:
        return self.public.state

    def lifespan(self) -> AbstractAsyncContextManager[Any]:
        """The lifespan as a context manager, for tests that drive the app without a server."""
        return self.public.router.lifespan_context(self.public)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if scope["type"] != "lifespan" and server and server[1] in self.internal_ports:
            await self.internal(scope, receive, send)
        else:
            await self.public(scope, receive, send)


def create_app(settings: GatewaySettings, *, deps: GatewayDeps | None = None) -> Gateway:
    """The gateway; `deps` are connections the caller owns (tests), else the lifespan opens its own."""
    authenticator = _authenticator(settings)
    loop_lag = LoopLag()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.auth == "off":
            log.warning("RECGPT_AUTH=off: every caller may do everything; for local experiments only")
        # gRPC aio channels belong to the running loop: they are made here, not at import or factory time.
        active = deps if deps is not None else GatewayDeps.connect(settings)
        active.start_connecting()
        app.state.deps = active
        app.state.key_store = (
            KeyStore(active.redis, settings.redis_prefix) if settings.api_keys_in_redis else None
        )
        await authenticator.keys.start(app.state.key_store)
        # Background live-judge calls, never awaited by a request: cancelled below at shutdown.
        live_judge = app.state.live_judge = LiveJudge(active.judge(), settings)
        # Refreshed in the background from now on, for requests that find retrieval unreachable.
        last_resort = app.state.last_resort = LastResortPage(active.retrieval(), settings)
        last_resort.start()
        app.state.pipelines = registry.build(
            active.retrieval(),
            BehaviourStore(active.redis, settings.redis_prefix),
            ProfileStore(active.caches, settings.redis_prefix),
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
        app.state.report_slots = asyncio.Semaphore(settings.report_max_concurrent)
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
        # Measured from here: the start-up's own pauses are not overload.
        loop_lag.start()
        try:
            yield
        finally:
            await loop_lag.close()
            await authenticator.keys.close()
            await active_experiments.close()
            await last_resort.close()
            await live_judge.close()
            if deps is None:
                await active.close()
            log.info("gateway stopped")

    public = FastAPI(
        title="RecGPT gateway",
        summary="Recommendations with a reason for each item. Every call carries an API key "
        "(Authorization: Bearer <key>); a key for end users also an X-User-Token.",
        version="0.1.0",
        lifespan=lifespan,
        default_response_class=OrjsonResponse,
    )
    public.state.settings = settings
    # Set by the server's signal handling; /readyz answers 503 from the first SIGTERM on.
    public.state.drain = Drain(settings.drain_s)
    public.state.authenticator = authenticator
    _keyed(public, recommend.router, KeyScope.RECOMMEND)
    _keyed(public, experiment_routes.router, KeyScope.RECOMMEND)
    _keyed(public, events.router, KeyScope.EVENTS_WRITE)
    _keyed(public, feed.router, KeyScope.FEED)
    public.include_router(health.router)
    # Admission control on the callers' listener only: operators can still look while it sheds.
    public.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s
    )
    public.add_middleware(
        AdmissionMiddleware,
        default=Pool("default", settings.max_in_flight),
        pools={FEED_COMMAND: Pool("feed_command", settings.feed_command_max_in_flight)},
        queue_deadline_s=settings.queue_deadline_s,
        overload_lag_s=settings.overload_lag_s,
        lag=loop_lag,
        exempt_paths=OPEN_PATHS,
    )
    _finish(public, settings, authenticator)

    internal = FastAPI(
        title="RecGPT gateway (operators)",
        summary="Metrics, the admin API and experiment reports: the internal listener only.",
        version="0.1.0",
        default_response_class=OrjsonResponse,
    )
    _keyed(internal, admin.router, KeyScope.ADMIN)
    _keyed(internal, keys.router, KeyScope.ADMIN)
    _keyed(internal, experiment_routes.reports, KeyScope.REPORTS_READ)
    internal.include_router(health.router)
    internal.include_router(metrics.router)
    internal.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s
    )
    _finish(internal, settings, authenticator)
    return Gateway(public, internal, {settings.internal_port})


def _keyed(app: FastAPI, router: APIRouter, scope: KeyScope) -> None:
    """Routes only a key with `scope` may call."""
    app.include_router(router, dependencies=[require(scope)], responses=AUTH_RESPONSES)


def _finish(app: FastAPI, settings: GatewaySettings, authenticator: Authenticator) -> None:
    """Error answers, then the middleware both listeners share (added innermost first: the request id
    wraps everything, so metrics and refusals carry it too)."""
    errors.install(app)
    app.add_middleware(AuthMiddleware, authenticator=authenticator, open_paths=OPEN_PATHS)
    app.add_middleware(MetricsMiddleware, service=SERVICE, paths=_static_paths(app))
    app.add_middleware(RequestIdMiddleware)


def _authenticator(settings: GatewaySettings) -> Authenticator:
    file_keys = api_keys.load_file(settings.api_keys_file) if settings.api_keys_file else {}
    key_cache = KeyCache(
        file_keys,
        uses_store=settings.api_keys_in_redis,
        refresh_s=settings.api_keys_refresh_s,
        timeout_s=settings.redis_deadline_s * 10,
    )
    tokens = UserTokenVerifier(
        UserTokenSettings(
            secret=settings.user_token_secret.get_secret_value(),
            jwks_url=settings.user_token_jwks_url,
            audience=settings.user_token_audience,
            issuer=settings.user_token_issuer,
            leeway_s=settings.user_token_leeway_s,
        )
    )
    return Authenticator(
        key_cache, RateLimiter(settings.gateway_replicas), tokens, enabled=settings.auth == "on"
    )


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
        event_retention_s=settings.event_retention_s,
        config_history_max=settings.experiments_config_history_max,
        catalogue_dir=settings.experiments_catalogue_dir,
    )
