"""Error answers: always JSON with the request id and a reason, never a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.routing import Match, Route

from gateway.pipelines import PipelineUnavailable
from gateway.pipelines.registry import UnknownVariant
from gateway.responses import OrjsonResponse
from recgpt_serving import context

log = logging.getLogger(__name__)

# Validation errors quote at most this many problems; the input itself is never echoed back.
_MAX_ERRORS = 10
# What FastAPI raises (as a 400) when the body cannot even be decoded.
_FASTAPI_BODY_ERROR = "There was an error parsing the body"


def _body(reason: str, **extra: object) -> dict[str, object]:
    return {"request_id": context.current().request_id, "reason": reason, **extra}


async def validation_error(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in exc.errors()[:_MAX_ERRORS]
    ]
    summary = "; ".join(f"{'.'.join(p['loc'])}: {p['msg']}" for p in problems[:3])
    return OrjsonResponse(_body(f"invalid request: {summary}", detail=problems), status_code=422)


async def http_error(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and exc.detail == _FASTAPI_BODY_ERROR:
        # Bytes that are not text (bad UTF-8): invalid input like any other malformed body.
        return OrjsonResponse(_body("invalid request: body is not valid JSON"), status_code=422)
    headers = exc.headers
    if exc.status_code == 405:
        # Starlette names only the methods of the first route of the path; the answer names every one.
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return OrjsonResponse(_body(str(exc.detail)), status_code=exc.status_code, headers=headers)


def _allowed_methods(request: Request) -> str:
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods
    return ", ".join(sorted(methods))


async def pipeline_unavailable(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, PipelineUnavailable)
    return OrjsonResponse(_body(exc.reason, degraded=exc.degraded), status_code=503)


async def unknown_variant(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, UnknownVariant)
    return OrjsonResponse(_body(exc.reason), status_code=422)


async def unexpected_error(request: Request, exc: Exception) -> OrjsonResponse:
    log.error("unhandled error", exc_info=exc)
    return OrjsonResponse(_body("internal error"), status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(PipelineUnavailable, pipeline_unavailable)
    app.add_exception_handler(UnknownVariant, unknown_variant)
    app.add_exception_handler(Exception, unexpected_error)
