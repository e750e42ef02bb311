"""Entry point (`recgpt-gateway`, `python -m gateway`): uvicorn on uvloop + httptools, one worker."""

from __future__ import annotations

import logging

import uvicorn
from pydantic import ValidationError

from gateway.app import create_app
from gateway.settings import GatewaySettings
from recgpt_serving import logs

log = logging.getLogger(__name__)


def build_server(settings: GatewaySettings) -> uvicorn.Server:
    """uvicorn as configured in production: no access log (metrics and JSON logs instead)."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.bind_host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        # Our JSON logging stays in place: uvicorn must not install its own handlers.
        log_config=None,
        workers=1,
        # SIGTERM: stop accepting, let in-flight requests finish for this long, then run the lifespan's close.
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_s)),
        server_header=False,
    )
    return uvicorn.Server(config)


def main() -> None:
    try:
        settings = GatewaySettings()  # required values come from the environment
    except ValidationError as error:
        # SystemExit with a message prints it to stderr and exits with status 1.
        raise SystemExit(f"recgpt-gateway: invalid settings:\n{error}") from error
    logs.configure("gateway", settings.log_level)
    log.info("starting", extra={"host": settings.bind_host, "port": settings.port})
    build_server(settings).run()


if __name__ == "__main__":
    main()
