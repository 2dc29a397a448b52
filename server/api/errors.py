"""One error format for every API error: ``{"error": {"code", "message", "details"}}``.

Bad input is a 4xx, never a 500: validation errors are 422 naming the field; a service's
refusal (``server.errors``) is 404 / 409 / 422, naming the field when it is one; a database
refusal that got past validation is 409 (a constraint) or 422 (a value), logged and counted;
anything else is a 500 in the same format, logged with the request it came from.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException

from server.alerts.model import AlertError, AlreadyClaimed
from server.errors import Conflict, Invalid, NotFound, ServiceError

log = logging.getLogger(__name__)

CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "invalid",
         429: "rate_limited", 500: "internal", 503: "unavailable"}


class ErrorDetail(BaseModel):
    field: str
    message: str
    type: str


class ErrorInfo(BaseModel):
    model_config = ConfigDict(extra="allow")  # e.g. ``holder`` of a 409 on claim

    code: str
    message: str
    details: list[ErrorDetail]


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorInfo


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorBody, "description": CODES[s].replace("_", " ")} for s in statuses}


# The error responses every API route may give, for the OpenAPI schema (router ``responses``).
RESPONSES = documented(400, 401, 403, 404, 409, 413, 422)


def error_body(status: int, message: str, code: str | None = None,
               details: list[dict[str, Any]] | None = None,
               **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code or CODES.get(status, "error"), "message": message,
                      "details": details or [], **extra}}


# A service's refusal (``server.errors``) -> its status.
SERVICE_STATUS: dict[type[ServiceError], int] = {NotFound: 404, Conflict: 409, Invalid: 422}


def service_status(exc: ServiceError) -> int:
    return next((SERVICE_STATUS[c] for c in type(exc).__mro__ if c in SERVICE_STATUS), 400)


def counters(app: Any) -> Counter[str]:
    """Errors this app answered, by kind (``body_too_large``, ``db_conflict``, ``internal``…)."""
    found: Counter[str] | None = getattr(app.state, "api_errors", None)
    if found is None:
        found = app.state.api_errors = Counter()
    return found


def _where(request: Request) -> str:
    return f"{request.method} {request.url.path}"


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into the one format."""
    counters(app)

    @app.exception_handler(AlertError)
    async def alert_error(_r: Request, exc: AlertError) -> JSONResponse:
        extra: dict[str, Any] = {"holder": exc.holder} if isinstance(exc, AlreadyClaimed) else {}
        return JSONResponse(error_body(exc.status, str(exc), exc.code, **extra),
                            status_code=exc.status)

    @app.exception_handler(ServiceError)
    async def refused(_r: Request, exc: ServiceError) -> JSONResponse:
        status = service_status(exc)
        details = [{"field": exc.field, "message": str(exc), "type": exc.kind}] if exc.field \
            else []
        return JSONResponse(error_body(status, str(exc), details=details), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        # The input itself is never echoed: it may be what cannot be encoded.
        details = [{"field": ".".join(str(p) for p in e["loc"] if p != "body"),
                    "message": e["msg"], "type": e["type"]} for e in exc.errors()]
        return JSONResponse(error_body(422, "the request is not valid", details=details),
                            status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(_r: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(error_body(exc.status_code, str(exc.detail)),
                            status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(psycopg.IntegrityError)
    async def db_conflict(request: Request, exc: psycopg.IntegrityError) -> JSONResponse:
        counters(request.app)["db_conflict"] += 1
        log.warning("%s: the database refused a write (%s): %s", _where(request),
                    type(exc).__name__, exc.diag.message_primary or exc)
        return JSONResponse(error_body(409, "this conflicts with what is stored: "
                                       f"{exc.diag.message_primary or type(exc).__name__}"),
                            status_code=409)

    @app.exception_handler(psycopg.DataError)
    async def db_value(request: Request, exc: psycopg.DataError) -> JSONResponse:
        counters(request.app)["db_value"] += 1
        log.warning("%s: the database refused a value (%s): %s", _where(request),
                    type(exc).__name__, exc)
        return JSONResponse(error_body(422, f"a value cannot be stored: {exc}"),
                            status_code=422)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        # Last resort (Starlette's ServerErrorMiddleware calls it): logged with the request.
        counters(request.app)["internal"] += 1
        log.error("%s: unhandled %s", _where(request), type(exc).__name__, exc_info=exc)
        return JSONResponse(error_body(500, "internal error; it has been logged"),
                            status_code=500)
