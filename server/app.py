"""The server's FastAPI application; everything stateful is built in the lifespan.

The lifespan starts the runtime (``server.runtime``) and puts each part the HTTP side uses on
``app.state`` under its own name (``settings``, ``conninfo``, ``pool``, ``fanout``,
``presence``, ``ingest``, ``supervisor``, ``database_probe``); routes take theirs through the
dependencies of ``server.api.deps``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from psycopg_pool import PoolTimeout

from kernel import __version__
from server.api import (
    alerts_routes,
    auth_routes,
    care_calls_routes,
    charts_routes,
    dashboard_routes,
    devices_routes,
    directory_routes,
    enrol_routes,
    errors,
    limits,
    live,
    maintenance_routes,
    privacy_routes,
    reports_routes,
    users_routes,
    visits_routes,
)
from server.health import DatabaseProbe, report
from server.runtime import running
from server.settings import Settings

CONSOLE = Path(__file__).parent / "console"


def create_app(settings: Settings | None = None, *, ingest: bool = True,
               http_transport: httpx.BaseTransport | None = None) -> FastAPI:
    """The application; ``settings`` default to the environment, read at start-up.
    ``ingest``: run the ingest worker processes; ``http_transport``: what outbound webhooks
    are sent over (default: the network; tests pass an ``httpx.MockTransport``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(settings or Settings(), ingest=ingest,
                           http_transport=http_transport) as rt:
            state = app.state
            state.settings, state.conninfo, state.pool = rt.settings, rt.conninfo, rt.pool
            state.fanout, state.presence, state.ingest = rt.fanout, rt.presence, rt.ingest
            state.supervisor = rt.supervisor
            state.broker_access = rt.access
            state.database_probe = DatabaseProbe(rt.conninfo)
            yield

    app = FastAPI(title="平安铃 server", version=__version__, lifespan=lifespan,
                  description="Alerts, residents and live feed for the 平安铃 operator console.")
    errors.install(app)
    limits.install(app, settings)
    for module in (auth_routes, alerts_routes, charts_routes, directory_routes, reports_routes,
                   users_routes, live, enrol_routes, visits_routes, care_calls_routes,
                   maintenance_routes, devices_routes, privacy_routes, dashboard_routes):
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
        state = request.app.state
        code, body = await report(state.database_probe, state.supervisor,
                                  broker=state.presence.subscribed.is_set(),
                                  live_feed=state.fanout.listening.is_set(),
                                  ingest=(state.ingest.alive(), state.ingest.subscribed(),
                                          len(state.ingest.procs)))
        return JSONResponse(body, status_code=code)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    app.mount("/console", StaticFiles(directory=CONSOLE, html=True), name="console")
    return app
