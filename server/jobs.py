"""The server's background jobs, each given what it uses through its constructor.

A job is called once per round by the supervisor (``kernel.supervisor``, wired in
``server.runtime``); its database work runs on a ``Db``, one sync connection used from a
worker thread. Jobs that may block for long (webhook POSTs, the detectors, a model fit) get a
``Db`` of their own, so they never hold up escalation or presence.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypeVar

import httpx
import psycopg
from psycopg_pool import ConnectionPool

from kernel.contract import Status
from server import database
from server.alerts import engine
from server.alerts.escalation import escalate
from server.alerts.notify import deliver_due
from server.auth.resets import prune_codes
from server.auth.sessions import prune_sessions
from server.auth.throttle import LoginLimits, prune
from server.care_calls.schedule import make_schedule
from server.detect.inactivity import fit_limits
from server.detect.worker import DetectorWorker
from server.devices.config import publish_unsent
from server.maintenance.checks import run_checks
from server.maintenance.health import note_firmware
from server.privacy import access_log
from server.settings import Settings
from server.store import run_maintenance, set_gateway_state
from server.supervision import supervise
from server.visits.tasks import make_plan

log = logging.getLogger(__name__)
T = TypeVar("T")


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


@dataclass(frozen=True)
class GatewayStatus:
    """Records a gateway's presence (``PresenceListener``'s ``on_status``)."""

    db: Db

    async def __call__(self, gateway: str, status: Status) -> None:
        changed = await self.db.run(
            lambda c: set_gateway_state(c, gateway, status.state, status.ts or time.time()))
        version = status.version
        if status.state == "online" and version:
            await self.db.run(lambda c: note_firmware(c, gateway, version))
        if changed:
            log.info("gateway %s is %s", gateway, status.state)


@dataclass(frozen=True)
class Supervision:
    """Silent devices and gateways: their state, and their technical alerts."""

    db: Db
    offline_grace_s: float

    async def __call__(self) -> None:
        def job(conn: psycopg.Connection[Any]) -> None:
            supervise(conn)
            with conn.transaction():
                engine.sync_technical(conn, self.offline_grace_s)

        await self.db.run(job)


@dataclass(frozen=True)
class Escalation:
    """Escalates unclaimed P1/P2 alerts and reminds holders of forgotten ones."""

    db: Db
    unclaimed_s: float
    remind_s: float

    async def __call__(self) -> None:
        await self.db.run(lambda c: escalate(c, self.unclaimed_s, self.remind_s))


@dataclass(frozen=True)
class Webhooks:
    """Posts due webhook deliveries (``server.alerts.notify``) with ``client``.

    The client is built by the runtime from an optional transport (``create_app``'s
    ``http_transport``): tests give it an ``httpx.MockTransport``.
    """

    db: Db
    client: httpx.Client

    async def __call__(self) -> None:
        await self.db.run(lambda c: deliver_due(c, self.client))


@dataclass(frozen=True)
class Maintenance:
    """Partitions, retention, compression (``server.store.run_maintenance``)."""

    db: Db
    lock_timeout: timedelta

    async def __call__(self) -> None:
        report = await self.db.run(lambda c: run_maintenance(c, lock_timeout=self.lock_timeout))
        log.info("maintenance: %s", report)


@dataclass(frozen=True)
class DeviceUpkeep:
    """Command timeouts, failed installation tests, work orders (``server.maintenance``)."""

    db: Db
    settings: Settings

    async def __call__(self) -> None:
        report = await self.db.run(lambda c: run_checks(c, self.settings))
        if report.orders_opened or report.tests_failed:
            log.info("device upkeep: %s", report)


@dataclass(frozen=True)
class Detection:
    """One round of the fall / vital-sign / inactivity detectors."""

    db: Db
    detectors: DetectorWorker

    async def __call__(self) -> None:
        await self.db.run(self.detectors.tick)


@dataclass(frozen=True)
class InactivityLearning:
    """Refits each resident's learned inactivity limits from their own history."""

    db: Db

    async def __call__(self) -> None:
        await self.db.run(lambda c: fit_limits(c, int(time.time() // 60)))


@dataclass(frozen=True)
class AccessLogRetention:
    """Deletes access-log rows older than the retention (``server.privacy.access_log.purge``)."""

    db: Db
    keep: timedelta

    async def __call__(self) -> None:
        gone = await self.db.run(lambda c: access_log.purge(c, self.keep))
        if gone:
            log.info("access log: %d rows past retention deleted", gone)


@dataclass(frozen=True)
class SignInHousekeeping:
    """Forgets expired sessions, old reset codes and forgotten login failures."""

    db: Db
    limits: LoginLimits

    async def __call__(self) -> None:
        def job(conn: psycopg.Connection[Any]) -> None:
            counts = (prune_sessions(conn), prune_codes(conn), prune(conn, self.limits))
            if any(counts):
                log.info("sign-in housekeeping: %d sessions, %d reset codes, %d throttle rows "
                         "forgotten", *counts)

        await self.db.run(job)


@dataclass(frozen=True)
class VisitPlans:
    """Makes this month's visit plan from the care rules (what exists stays: a new resident
    or a changed rule adds what is missing)."""

    db: Db

    async def __call__(self) -> None:
        def job(conn: psycopg.Connection[Any]) -> None:
            added = make_plan(conn, date.today())
            if added:
                log.info("visit plan: %d tasks added for %s", added, date.today().isoformat()[:7])

        await self.db.run(job)


@dataclass(frozen=True)
class CareCallSchedule:
    """Opens the care calls the rules and hospital stays ask for (one open call at a time)."""

    db: Db

    async def __call__(self) -> None:
        def job(conn: psycopg.Connection[Any]) -> None:
            opened = make_schedule(conn, date.today())
            if opened:
                log.info("care calls: %d opened", opened)

        await self.db.run(job)


@dataclass(frozen=True)
class DeviceConfigs:
    """Publishes the device configs the broker did not take when they were made."""

    db: Db
    settings: Settings

    async def __call__(self) -> None:
        def job(conn: psycopg.Connection[Any]) -> None:
            sent = publish_unsent(conn, self.settings)
            if sent:
                log.info("device configs: %d sent again", sent)

        await self.db.run(job)
