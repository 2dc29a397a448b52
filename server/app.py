"""The server's FastAPI application; everything stateful is built in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from pinganling import __version__
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
from server.runtime import Runtime
from server.settings import Settings

CONSOLE = Path(__file__).parent / "console"


def create_app(settings: Settings | None = None, *, ingest: bool = True) -> FastAPI:
    """The application; ``settings`` default to the environment, read at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await Runtime.start(settings or Settings(), ingest=ingest)
        app.state.runtime = runtime
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

    @app.get("/health", tags=["ops"])
    async def health(request: Request) -> dict[str, Any]:
        """Liveness of the parts: database, broker (presence subscription), ingest workers."""
        rt: Runtime = request.app.state.runtime
        db_ok = await rt.db.run(lambda c: c.execute("SELECT 1").fetchone() == (1,))
        return {"database": db_ok, "broker": rt.presence.subscribed.is_set(),
                "live_feed": rt.fanout.listening.is_set(),
                "ingest_workers": rt.ingest.alive(), "version": __version__}

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    app.mount("/console", StaticFiles(directory=CONSOLE, html=True), name="console")
    return app
