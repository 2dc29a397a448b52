"""What a server process runs besides HTTP: ingest workers, presence, supervision, maintenance.

Built in the FastAPI lifespan (never at import): database found or started and migrated, then
named tasks in one TaskGroup. Stopping cancels them and terminates the worker processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import psycopg
from psycopg_pool import ConnectionPool

from pinganling.backoff import stop_if_cancelled
from pinganling.contract import Status
from pinganling.services.postgres import PrivateCluster
from server import database
from server.alerts import engine
from server.alerts.escalation import escalate
from server.alerts.notify import deliver_due
from server.api.live import Fanout
from server.detect.inactivity import fit_limits
from server.detect.worker import DetectorWorker
from server.ingest.pool import IngestPool
from server.presence import PresenceListener
from server.settings import Settings
from server.store import run_maintenance, set_gateway_state
from server.supervision import supervise

log = logging.getLogger(__name__)
T = TypeVar("T")


class Db:
    """One sync connection for background jobs, used from worker threads one call at a time."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _call(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        with self._lock:
            if self._closed:
                raise RuntimeError("the server is stopping: no more database work")
            if self._conn is None or self._conn.closed:
                self._conn = database.connect(self.conninfo)
            try:
                return fn(self._conn)
            except psycopg.OperationalError:
                self._conn.close()
                raise
            finally:
                if self._closed:  # closed while this call ran in its thread
                    self._conn.close()

    async def run(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        return await asyncio.to_thread(self._call, fn)

    def close(self) -> None:
        """Close now, or (a call still running in its thread) as soon as that call ends."""
        self._closed = True
        if self._lock.acquire(blocking=False):
            try:
                if self._conn is not None:
                    self._conn.close()
            finally:
                self._lock.release()


@dataclass
class Runtime:
    settings: Settings
    conninfo: str
    cluster: PrivateCluster | None
    db: Db
    pool: ConnectionPool[Any]
    fanout: Fanout
    ingest: IngestPool
    presence: PresenceListener
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    closing: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    async def start(cls, settings: Settings, *, ingest: bool = True) -> Runtime:
        conninfo, cluster = await asyncio.to_thread(database.resolve, settings)
        await asyncio.to_thread(database.migrate, conninfo, settings)
        pool = ConnectionPool(conninfo, min_size=settings.db_pool_min,
                              max_size=settings.db_pool_max, kwargs={"autocommit": True},
                              open=False)
        await asyncio.to_thread(pool.open, True, 30.0)
        presence = PresenceListener(settings.broker(), settings.topics(),
                                    lambda gw, status: rt.status(gw, status))
        rt = cls(settings, conninfo, cluster, Db(conninfo), pool, Fanout(conninfo),
                 IngestPool(settings, conninfo), presence)
        every = rt._every
        jobs: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("presence", rt.presence.run),
            ("live-feed", rt.fanout.run),
            ("supervision", lambda: every(settings.supervision_every, "supervision",
                                          rt.supervise)),
            ("escalation", lambda: every(settings.escalation_every, "escalation", rt.escalate)),
            ("notifications", lambda: every(settings.escalation_every, "notifications",
                                            rt.notify)),
            ("maintenance", lambda: every(settings.maintenance_every, "maintenance",
                                          rt.maintain)),
        ]
        if ingest:
            jobs.append(("ingest", rt.ingest.run))
        if settings.detectors:
            detectors, detector_db = DetectorWorker(settings), Db(conninfo)
            rt.closing.append(detector_db.close)
            jobs.append(("detectors", lambda: every(settings.detector_every, "detectors",
                                                    lambda: rt._detect(detectors, detector_db))))
            learn_db = Db(conninfo)  # its own connection: a long fit never delays escalation
            rt.closing.append(learn_db.close)
            jobs.append(("inactivity-learning",
                         lambda: every(settings.inactivity_learn_every, "inactivity learning",
                                       lambda: rt.learn_inactivity(learn_db))))
        rt.tasks = [asyncio.create_task(job(), name=name) for name, job in jobs]
        return rt

    async def learn_inactivity(self, db: Db) -> None:
        """Refit each resident's learned inactivity limits from their own history."""
        await db.run(lambda c: fit_limits(c, int(time.time() // 60)))

    async def _detect(self, detectors: DetectorWorker, db: Db) -> None:
        await db.run(detectors.tick)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.ingest.stop()
        self.db.close()
        for close in self.closing:
            close()
        await asyncio.to_thread(self.pool.close)
        self._http.close()
        if self.cluster is not None:
            await asyncio.to_thread(self.cluster.stop)

    async def status(self, gateway: str, status: Status) -> None:
        changed = await self.db.run(
            lambda c: set_gateway_state(c, gateway, status.state, status.ts or time.time()))
        if changed:
            log.info("gateway %s is %s", gateway, status.state)

    async def supervise(self) -> None:
        grace = self.settings.gateway_offline_grace.total_seconds()

        def job(conn: psycopg.Connection[Any]) -> None:
            supervise(conn)
            with conn.transaction():
                engine.sync_technical(conn, grace)

        await self.db.run(job)

    async def escalate(self) -> None:
        s = self.settings
        await self.db.run(lambda c: escalate(c, s.alert_unclaimed.total_seconds(),
                                             s.alert_remind.total_seconds()))

    @functools.cached_property
    def _http(self) -> httpx.Client:
        return httpx.Client(timeout=5.0)

    async def notify(self) -> None:
        await self.db.run(lambda c: deliver_due(c, self._http))

    async def maintain(self) -> None:
        report = await self.db.run(lambda c: run_maintenance(c))
        log.info("maintenance: %s", report)

    async def _every(self, period: timedelta, what: str,
                     job: Callable[[], Awaitable[None]]) -> None:
        seconds = period.total_seconds()
        while True:
            try:
                await job()
            except Exception:  # a periodic job's outer edge: log with context and carry on
                log.exception("%s failed; retrying in %.0f s", what, seconds)
            stop_if_cancelled()
            await asyncio.sleep(seconds)
