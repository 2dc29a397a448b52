"""What ``/health`` answers: the database, the broker and every supervised task, never a 500.

``status`` is ``down`` when the database cannot be reached (nothing can be stored or shown:
HTTP 503, so a load balancer takes this replica out), ``degraded`` when the database is up but
the broker is not or a task is not well (HTTP 200: the API still serves), else ``ok``.
See README "Operations".
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg

from kernel import __version__
from kernel.supervisor import Supervisor

log = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 2.0


class DatabaseProbe:
    """``up()``: a fresh connection runs ``SELECT 1`` within the timeout (no state to go stale,
    nothing shared with the API's pool, which a saturated or broken pool cannot hold up)."""

    def __init__(self, conninfo: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
        self.conninfo, self.timeout_s = conninfo, timeout_s
        self.last_error: str | None = None

    async def up(self) -> bool:
        try:
            async with asyncio.timeout(self.timeout_s):
                async with await psycopg.AsyncConnection.connect(
                        self.conninfo, autocommit=True,
                        connect_timeout=max(1, round(self.timeout_s))) as conn:
                    await conn.execute("SELECT 1")
        except (psycopg.Error, TimeoutError, OSError) as exc:
            self.last_error = " ".join(f"{type(exc).__name__}: {exc}".split())
            return False
        self.last_error = None
        return True


async def report(probe: DatabaseProbe, supervisor: Supervisor, *, broker: bool,
                 live_feed: bool, ingest: tuple[int, int, int]) -> tuple[int, dict[str, Any]]:
    """The HTTP status and body of ``/health``; ``ingest``: worker processes alive,
    subscribed, started."""
    database = await probe.up()
    tasks = supervisor.health()
    problems = [] if database else [f"database: {probe.last_error}"]
    if not broker:
        problems.append("broker: not subscribed")
    alive, subscribed, started = ingest
    if subscribed < started:
        problems.append(f"ingest: {started - subscribed} of {started} workers not subscribed "
                        f"({started - alive} not running)")
    problems += [f"{t.name}: {t.problem}" for t in tasks if not t.healthy]
    status = "down" if not database else "degraded" if problems else "ok"
    return (503 if status == "down" else 200), {
        "status": status, "database": "up" if database else "down",
        "broker": "up" if broker else "down", "live_feed": live_feed,
        "ingest_workers": alive, "ingest_subscribed": subscribed, "problems": problems,
        "tasks": {t.name: t.as_dict() for t in tasks}, "version": __version__}
