"""What a server process runs besides HTTP, built in the FastAPI lifespan (never at import).

``running(settings)`` finds or starts the database and migrates it, opens the API's pool and
the webhook client, and starts named tasks under one supervisor (``kernel.supervisor``), which
restarts any that fails and reports on each in ``/health``: presence, the live feed's fan-out
(``server.fanout``), the periodic jobs (``server.jobs``, each constructed with what it uses)
and the ingest worker processes. It yields the parts (``Runtime``); the lifespan
(``server.app``) puts each on ``app.state`` under its own name for the routes
(``server.api.deps``). Leaving stops everything in reverse order: the tasks, the worker
processes, the connections, the private cluster (also when starting fails half-way).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from psycopg_pool import ConnectionPool

from kernel.contract import Status
from kernel.supervisor import Supervised, Supervisor, plain
from server import database
from server.detect.worker import DetectorWorker
from server.enrol.broker import BrokerAccess, BrokerUnavailable
from server.enrol.presence import RotationWatch
from server.fanout import Fanout
from server.ingest.pool import IngestPool
from server.jobs import (
    AccessLogRetention,
    CareCallSchedule,
    Db,
    Detection,
    DeviceConfigs,
    DeviceUpkeep,
    Escalation,
    GatewayStatus,
    InactivityLearning,
    Maintenance,
    SignInHousekeeping,
    Supervision,
    VisitPlans,
    Webhooks,
)
from server.presence import PresenceListener
from server.settings import Settings

log = logging.getLogger(__name__)

LISTENER_DEADLINE_S = 15.0  # presence and the live feed: not subscribed this long is degraded
WEBHOOK_TIMEOUT_S = 5.0
Job = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Runtime:
    """The parts of a running server that the HTTP side reads (``/health``, the routes)."""

    settings: Settings
    conninfo: str
    pool: ConnectionPool[Any]
    fanout: Fanout
    presence: PresenceListener
    ingest: IngestPool
    supervisor: Supervisor
    access: BrokerAccess | None = None  # gateway and service identities in the broker


@asynccontextmanager
async def running(settings: Settings, *, ingest: bool = True,
                  http_transport: httpx.BaseTransport | None = None) -> AsyncIterator[Runtime]:
    """Start the server's parts and tasks; stop them on leaving. ``ingest``: run the ingest
    worker processes; ``http_transport``: what webhooks are sent over (default: the network)."""
    async with AsyncExitStack() as stack:
        conninfo, cluster = await asyncio.to_thread(database.resolve, settings)
        if cluster is not None:
            stack.push_async_callback(asyncio.to_thread, cluster.stop)
        await asyncio.to_thread(database.migrate, conninfo, settings)
        pool = database.pool(conninfo, settings)
        await asyncio.to_thread(pool.open, True, 30.0)
        stack.push_async_callback(asyncio.to_thread, pool.close)
        http = stack.enter_context(httpx.Client(timeout=WEBHOOK_TIMEOUT_S,
                                                transport=http_transport))

        def connection() -> Db:
            made = Db(conninfo)
            stack.callback(made.close)
            return made

        jobs_db = connection()  # short jobs: presence, supervision, escalation
        periodic = _periodic(settings, jobs_db, connection, http)
        access = await _broker_access(settings)
        stack.callback(access.stop)
        runtime = Runtime(settings, conninfo, pool, Fanout(conninfo),
                          PresenceListener(settings.broker("presence"), settings.topics(),
                                           _on_status(jobs_db, access)),
                          IngestPool(settings, conninfo), Supervisor("server"), access)
        stack.push_async_callback(runtime.ingest.stop)
        stack.push_async_callback(runtime.supervisor.stop)  # first out: before connections
        _start(runtime, periodic, ingest=ingest)
        yield runtime


async def _broker_access(settings: Settings) -> BrokerAccess:
    """The broker's administrator connection; the services' identities made (or refreshed)
    before anything logs in as them. A broker that refuses is logged: the server still runs,
    without provisioning, and its clients retry."""
    access = BrokerAccess(settings)
    access.start()
    logins = settings.service_logins()
    if access.configured and logins:
        try:
            await asyncio.to_thread(access.ensure_services, logins)
        except BrokerUnavailable as exc:
            log.error("the services' broker identities were not made: %s", exc)
    return access


def _on_status(db: Db, access: BrokerAccess) -> Callable[[str, Status], Awaitable[None]]:
    """Presence: record the gateway's state; a gateway online under its new identity finishes
    its rotation (``server.enrol.presence``)."""
    record = GatewayStatus(db)
    if not access.configured:
        return record
    watch = RotationWatch(db, access)

    async def on_status(gateway: str, status: Status) -> None:
        await record(gateway, status)
        await watch(gateway, status)

    return on_status


def _periodic(s: Settings, db: Db, connection: Callable[[], Db],
              http: httpx.Client) -> list[tuple[str, float, Job]]:
    """The periodic jobs: (name, period in seconds, job). Those that may take long (a POST to
    a slow webhook, a maintenance pass, the detectors, a model fit) get a connection of their
    own, so escalation never waits for them."""
    jobs: list[tuple[str, timedelta, Job]] = [
        ("supervision", s.supervision_every,
         Supervision(db, s.gateway_offline_grace.total_seconds())),
        ("escalation", s.escalation_every,
         Escalation(db, s.alert_unclaimed.total_seconds(), s.alert_remind.total_seconds())),
        ("notifications", s.escalation_every, Webhooks(connection(), http)),
        ("maintenance", s.maintenance_every,
         Maintenance(connection(), s.maintenance_lock_timeout)),
        ("sign-in-housekeeping", s.maintenance_every, SignInHousekeeping(db, s.login_limits())),
        ("visit-plans", s.maintenance_every, VisitPlans(db)),
        ("care-calls", s.maintenance_every, CareCallSchedule(db)),
        ("device-upkeep", s.maintenance_checks_every, DeviceUpkeep(db, s)),
        ("device-config", s.supervision_every, DeviceConfigs(connection(), s)),
        ("access-log-retention", s.maintenance_every,
         AccessLogRetention(db, s.access_log_retention))]
    if s.detectors:
        jobs += [("detectors", s.detector_every, Detection(connection(), DetectorWorker(s))),
                 ("inactivity-learning", s.inactivity_learn_every,
                  InactivityLearning(connection()))]
    return [(name, every.total_seconds(), job) for name, every, job in jobs]


def _start(rt: Runtime, periodic: list[tuple[str, float, Job]], *, ingest: bool) -> None:
    sup = rt.supervisor
    sup.start("presence", plain(rt.presence.run), ready=rt.presence.subscribed,
              deadline_s=LISTENER_DEADLINE_S)
    sup.start("live-feed", plain(rt.fanout.run), ready=rt.fanout.listening,
              deadline_s=LISTENER_DEADLINE_S)
    for name, period_s, job in periodic:
        sup.every(name, period_s, job)
    if ingest:
        _ingest(sup, rt.ingest)


def _ingest(sup: Supervisor, pool: IngestPool) -> None:
    async def keep(me: Supervised, *, role: str, index: int) -> None:
        await pool.keep(role, index, started=me.ok)

    for role, index in pool.workers:
        sup.start(f"ingest-{role}-{index}", functools.partial(keep, role=role, index=index))
