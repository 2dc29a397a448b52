"""The server's FastAPI application; everything stateful is built in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from psycopg_pool import PoolTimeout

from kernel import __version__
from server.api import (
    alerts_routes,
    auth_routes,
    charts_routes,
    directory_routes,
    errors,
    limits,
    live,
    reports_routes,
)
from server.health import DatabaseProbe, report
from server.runtime import Runtime
from server.settings import Settings

CONSOLE = Path(__file__).parent / "console"


def create_app(settings: Settings | None = None, *, ingest: bool = True) -> FastAPI:
    """The application; ``settings`` default to the environment, read at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await Runtime.start(settings or Settings(), ingest=ingest)
        app.state.runtime = runtime
        app.state.database_probe = DatabaseProbe(runtime.conninfo)
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title="平安铃 server", version=__version__, lifespan=lifespan,
                  description="Alerts, residents and live feed for the 平安铃 operator console.")
    errors.install(app)
    limits.install(app, settings)
    for module in (auth_routes, alerts_routes, charts_routes, directory_routes, reports_routes,
                   live):
        app.include_router(module.router)

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(PoolTimeout)
    async def database_unavailable(_r: Request, exc: Exception) -> JSONResponse:
        """The database is away (restarting, unreachable): 503, try again, never a 500."""
        return JSONResponse(errors.error_body(503, "the database is unavailable; try again",
                                              "unavailable"),
                            status_code=503, headers={"Retry-After": "5"})

    @app.get("/health", tags=["ops"], responses={503: {"description": "the database is down"}})
    async def health(request: Request) -> JSONResponse:
        """``status`` ok / degraded / down; the database and the broker up / down; each
        supervised task: alive, healthy, restarts, last success, last error (README
        "Operations"). 503 only when the database is down."""
        rt: Runtime = request.app.state.runtime
        code, body = await report(request.app.state.database_probe, rt.supervisor,
                                  broker=rt.presence.subscribed.is_set(),
                                  live_feed=rt.fanout.listening.is_set(),
                                  ingest_workers=rt.ingest.alive())
        return JSONResponse(body, status_code=code)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    app.mount("/console", StaticFiles(directory=CONSOLE, html=True), name="console")
    return app
