"""A request body limit: above ``PINGANLING_HTTP_MAX_BODY`` bytes the answer is 413.

A declared ``Content-Length`` over the limit is refused before the app runs; a body without
one (chunked) is counted as it streams and refused as soon as it passes the limit, so no
request can make the server buffer more than the limit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.api.errors import counters, error_body
from server.settings import DEFAULT_HTTP_MAX_BODY, Settings

log = logging.getLogger(__name__)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a body passes the limit (the error handlers answer 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodyLimit:
    """ASGI middleware refusing HTTP request bodies larger than ``limit()`` bytes."""

    def __init__(self, app: ASGIApp, limit: Callable[[], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit()
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit, f"Content-Length {declared}")
            return
        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:  # nothing in the app answered it: answer here if still possible
            if started:
                raise
            await self._refuse(scope, receive, send, limit, f"more than {limit} bytes streamed")
        else:
            if seen > limit:
                counters(scope["app"])["body_too_large"] += 1
                log.warning("%s %s: body over %d bytes refused (streamed)", scope["method"],
                            scope["path"], limit)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int, why: str) -> None:
        counters(scope["app"])["body_too_large"] += 1
        log.warning("%s %s: body over %d bytes refused (%s)", scope["method"], scope["path"],
                    limit, why)
        response = JSONResponse(error_body(413, f"the request body is larger than {limit} bytes"),
                                status_code=413)
        await response(scope, receive, send)


def install(app: FastAPI, settings: Settings | None) -> None:
    """Add the body limit: ``settings.http_max_body``, else the running server's settings."""

    def limit() -> int:
        if settings is not None:
            return settings.http_max_body
        running: Settings | None = getattr(app.state, "settings", None)
        return running.http_max_body if running else DEFAULT_HTTP_MAX_BODY

    app.add_middleware(BodyLimit, limit=limit)
