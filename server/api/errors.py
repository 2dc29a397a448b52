"""One error format for every API error: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from server.alerts.model import AlertError, AlreadyClaimed

CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 409: "conflict", 422: "invalid", 429: "rate_limited"}


def error_body(status: int, message: str, code: str | None = None,
               details: list[dict[str, Any]] | None = None,
               **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code or CODES.get(status, "error"), "message": message,
                      "details": details or [], **extra}}


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into the one format."""

    @app.exception_handler(AlertError)
    async def alert_error(_r: Request, exc: AlertError) -> JSONResponse:
        extra = {"holder": exc.holder} if isinstance(exc, AlreadyClaimed) else {}
        return JSONResponse(error_body(exc.status, str(exc), exc.code, **extra),
                            status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"field": ".".join(str(p) for p in e["loc"] if p != "body"),
                    "message": e["msg"], "type": e["type"]} for e in exc.errors()]
        return JSONResponse(error_body(422, "the request is not valid", details=details),
                            status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(_r: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(error_body(exc.status_code, str(exc.detail)),
                            status_code=exc.status_code, headers=exc.headers)
