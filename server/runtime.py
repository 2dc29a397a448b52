"""What a server process runs besides HTTP: ingest workers, presence, supervision, maintenance.

Built in the FastAPI lifespan (never at import): database found or started and migrated, then
named tasks under one supervisor (``kernel.supervisor``), which restarts any that fails and
reports on each in ``/health``. Stopping cancels them and terminates the worker processes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import psycopg
from psycopg_pool import ConnectionPool

from kernel.contract import Status
from kernel.services.postgres import PrivateCluster
from kernel.supervisor import Supervised, Supervisor, plain
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
LISTENER_DEADLINE_S = 15.0  # presence and the live feed: not subscribed this long is degraded


class Db:
    """One sync connection for background jobs, used from worker threads one call at a time.

    Each call first checks the connection (an empty query) and replaces one that a database
    restart broke, so a restart costs only the call that was running at that moment.
    """

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _call(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        with self._lock:
            if self._closed:
                raise RuntimeError("the server is stopping: no more database work")
            conn = self._connection()
            try:
                return fn(conn)
            except psycopg.OperationalError:
                conn.close()
                raise
            finally:
                if self._closed:  # closed while this call ran in its thread
                    conn.close()

    def _connection(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is not None and not conn.closed:
            try:
                ConnectionPool.check_connection(conn)
                return conn
            except psycopg.Error:
                conn.close()
        self._conn = database.connect(self.conninfo, connect_timeout=database.CONNECT_TIMEOUT_S)
        return self._conn

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
    supervisor: Supervisor
    closing: list[Callable[[], None]]

    @classmethod
    async def start(cls, settings: Settings, *, ingest: bool = True) -> Runtime:
        conninfo, cluster = await asyncio.to_thread(database.resolve, settings)
        await asyncio.to_thread(database.migrate, conninfo, settings)
        pool = database.pool(conninfo, settings)
        await asyncio.to_thread(pool.open, True, 30.0)
        presence = PresenceListener(settings.broker(), settings.topics(),
                                    lambda gw, status: rt.status(gw, status))
        rt = cls(settings, conninfo, cluster, Db(conninfo), pool, Fanout(conninfo),
                 IngestPool(settings, conninfo), presence, Supervisor("server"), [])
        rt._supervise_tasks(ingest=ingest)
        return rt

    def _supervise_tasks(self, *, ingest: bool) -> None:
        s, sup = self.settings, self.supervisor
        sup.start("presence", plain(self.presence.run), ready=self.presence.subscribed,
                  deadline_s=LISTENER_DEADLINE_S)
        sup.start("live-feed", plain(self.fanout.run), ready=self.fanout.listening,
                  deadline_s=LISTENER_DEADLINE_S)
        sup.every("supervision", s.supervision_every.total_seconds(), self.supervise)
        sup.every("escalation", s.escalation_every.total_seconds(), self.escalate)
        sup.every("notifications", s.escalation_every.total_seconds(), self.notify)
        sup.every("maintenance", s.maintenance_every.total_seconds(), self.maintain)
        if ingest:
            for role, index in self.ingest.workers:
                sup.start(f"ingest-{role}-{index}",
                          functools.partial(self._keep_worker, role=role, index=index))
        if s.detectors:
            detectors, detector_db = DetectorWorker(s), Db(self.conninfo)
            self.closing.append(detector_db.close)
            sup.every("detectors", s.detector_every.total_seconds(),
                      lambda: detector_db.run(detectors.tick))
            learn_db = Db(self.conninfo)  # its own connection: a long fit never delays escalation
            self.closing.append(learn_db.close)
            sup.every("inactivity-learning", s.inactivity_learn_every.total_seconds(),
                      lambda: self.learn_inactivity(learn_db))

    async def _keep_worker(self, me: Supervised, *, role: str, index: int) -> None:
        await self.ingest.keep(role, index, started=me.ok)

    async def learn_inactivity(self, db: Db) -> None:
        """Refit each resident's learned inactivity limits from their own history."""
        await db.run(lambda c: fit_limits(c, int(time.time() // 60)))

    async def stop(self) -> None:
        await self.supervisor.stop()
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
