"""Installation tests: the technician starts one for a device (or every alarm button of a
gateway), presses the button, and the test passes on that device's own signal — a press, long
press or test event it sent — while the test is open; it fails when ``installation_test_window``
passes without one. The press of a passing test is not an alarm: the alert engine asks
``take`` first, and a taken event raises nothing (the test's record is here, not in the queue).

A test event the gateway makes itself (the ``test_alarm`` command's, ``data.command``) does not
pass a test: it shows the gateway→server path, not the button.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from kernel.contract import Event
from server.auth.users import User
from server.directory.records import fetch
from server.errors import NotFound
from server.maintenance import audit, places
from server.maintenance.alarm_devices import ALARM_MODELS, PRESSES
from server.scope import Scope
from server.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class InstallationTest:
    id: int
    device: str
    gateway_id: str
    label: str | None
    actor: str
    started_at: datetime
    deadline: datetime
    state: str  # pending | pass | fail
    event_id: str | None
    ended_at: datetime | None


_SELECT = sql.SQL(
    "SELECT t.id, t.device, t.gateway_id, d.label, t.actor, t.started_at, t.deadline, t.state, "
    "t.event_id, t.ended_at FROM installation_tests t LEFT JOIN devices d ON d.uid = t.device ")


def start(conn: psycopg.Connection[Any], settings: Settings, actor: User, *,
          device: str | None = None, gateway: str | None = None) -> list[InstallationTest]:
    """Open a test for ``device``, or for each alarm button paired at ``gateway``; a device
    with a test open keeps it (no second one)."""
    scope = Scope.of(actor)
    with conn.transaction():
        if device is not None:
            uids = [device]
            gw = places.device_in(conn, scope, device)
        elif gateway is not None:
            places.gateway_in(conn, scope, gateway)
            gw = gateway
            uids = [u for (u,) in conn.execute(
                "SELECT uid FROM devices WHERE gateway_id = %s AND model = ANY (%s) "
                "ORDER BY uid", (gateway, ALARM_MODELS)).fetchall()]
            if not uids:
                raise NotFound(f"gateway {gateway} has no alarm buttons paired",
                               field="gateway_id")
        else:
            raise NotFound("name a device or a gateway", field="device")
        settle(conn)
        ids = []
        for uid in uids:
            row = conn.execute(
                "INSERT INTO installation_tests (device, gateway_id, actor_id, actor, deadline) "
                "VALUES (%s, %s, %s, %s, now() + %s) ON CONFLICT (device) WHERE state = "
                "'pending' DO NOTHING RETURNING id",
                (uid, gw, actor.id, actor.username, settings.installation_test_window)).fetchone()
            if row is None:
                row = conn.execute("SELECT id FROM installation_tests WHERE device = %s AND "
                                   "state = 'pending'", (uid,)).fetchone()
            else:
                audit.record(conn, actor, "installation_test", "device", uid, test=row[0])
            assert row is not None
            ids.append(row[0])
    return fetch(conn, InstallationTest, _SELECT + sql.SQL("WHERE t.id = ANY (%s) ORDER BY "
                                                           "t.device"), (ids,))


def take(conn: psycopg.Connection[Any], event: Event) -> int | None:
    """The open test ``event`` passes (its id), or None: the alert engine's question for each
    press, long press and test event, inside the transaction storing it."""
    if event.type.value not in PRESSES or "command" in event.data:
        return None
    row = conn.execute(
        "UPDATE installation_tests SET state = 'pass', event_id = %s, ended_at = now() "
        "WHERE device = %s AND gateway_id = %s AND state = 'pending' AND deadline >= now() "
        "RETURNING id", (event.id, event.device, event.gw)).fetchone()
    if row is None:
        return None
    log.info("installation test %s of %s passed (event %s)", row[0], event.device, event.id)
    return int(row[0])


def settle(conn: psycopg.Connection[Any]) -> int:
    """Open tests past their deadline: ``fail``."""
    cur = conn.execute("UPDATE installation_tests SET state = 'fail', ended_at = deadline "
                       "WHERE state = 'pending' AND deadline < now()")
    return cur.rowcount


def recent(conn: psycopg.Connection[Any], scope: Scope, *, gateway: str | None = None,
           device: str | None = None, limit: int = 100) -> list[InstallationTest]:
    """Tests newest first, of a gateway, a device, or everywhere in ``scope``."""
    settle(conn)
    conds = [sql.SQL("TRUE")]
    params: list[Any] = []
    if gateway is not None:
        places.gateway_in(conn, scope, gateway)
        conds.append(sql.SQL("t.gateway_id = %s"))
        params.append(gateway)
    if device is not None:
        places.device_in(conn, scope, device)
        conds.append(sql.SQL("t.device = %s"))
        params.append(device)
    query = _SELECT + sql.SQL(
        "JOIN gateways g ON g.id = t.gateway_id LEFT JOIN homes h ON h.id = g.home_id "
        "WHERE {} AND {} ORDER BY t.started_at DESC, t.id DESC LIMIT %s").format(
            sql.SQL(" AND ").join(conds), scope.where("h.region_id", unplaced=True))
    return fetch(conn, InstallationTest, query, (*params, limit))
