"""Device and gateway health: what the last heartbeats and events say (battery, RSSI, last
seen, supervision, self-test, tests and orders), and the gateway's outbox, uptime and online
history.

"Needs attention" is any of ``FLAGS``: each a named SQL condition over the device row ``d``
and the columns computed in ``_DEVICES``. A new reason (e.g. ``config_pending``, once the
server keeps a desired device configuration) is one more entry there; the API's filter and the
console's chips are built from the names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from server.directory.records import fetch
from server.errors import Invalid
from server.maintenance import places
from server.maintenance.self_tests import due_sql, state_sql
from server.scope import Scope
from server.settings import Settings


def flags(settings: Settings) -> dict[str, sql.Composable]:
    """Why a device needs attention, by name (columns of ``_DEVICES``'s inner query)."""
    return {
        "low_battery": sql.SQL("battery_pct <= {}").format(sql.Literal(settings.low_battery_pct)),
        "silent": sql.SQL("silent_since IS NOT NULL"),
        "weak_signal": sql.SQL("rssi <= {}").format(sql.Literal(settings.weak_rssi_dbm)),
        "failed_test": sql.SQL("last_test_state = 'fail'"),
        "self_test_missed": sql.SQL("self_test = 'missed'"),
        "open_order": sql.SQL("open_orders > 0"),
        "config_pending": sql.SQL("config_pending"),  # its gateway has not applied its list
    }


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    uid: str
    gateway_id: str | None
    address: str | None
    label: str
    model: str
    kind: str
    battery_pct: int | None
    battery_mv: int | None
    rssi: int | None
    last_seen: datetime | None
    supervision: str  # ok | silent | unheard
    silent_since: datetime | None
    self_test: str | None  # ok | due | missed (alarm buttons only)
    self_test_due: datetime | None
    last_test_state: str | None  # the latest installation test: pending | pass | fail
    open_orders: int
    config_pending: bool
    attention: list[str]


_DEVICES = sql.SQL(
    "SELECT d.uid, d.gateway_id, h.address, d.label, d.model, d.kind, d.battery_pct, "
    "d.battery_mv, d.rssi, d.last_seen, CASE WHEN d.silent_since IS NOT NULL THEN 'silent' "
    "WHEN d.last_seen IS NULL THEN 'unheard' ELSE 'ok' END AS supervision, d.silent_since, "
    "{state} AS self_test, {due} AS self_test_due, "
    "(SELECT t.state FROM installation_tests t WHERE t.device = d.uid "
    " ORDER BY t.started_at DESC, t.id DESC LIMIT 1) AS last_test_state, "
    "(SELECT count(*) FROM work_orders w WHERE w.device = d.uid AND w.state <> 'closed')::int "
    " AS open_orders, (g.desired_rev > 0 AND coalesce(g.config_rev, 0) < g.desired_rev) "
    " AS config_pending "
    "FROM devices d JOIN gateways g ON g.id = d.gateway_id LEFT JOIN homes h ON h.id = g.home_id "
    "WHERE d.unpaired_at IS NULL AND {scope} AND ({gateway}::text IS NULL OR "
    "d.gateway_id = {gateway})")


def devices(conn: psycopg.Connection[Any], settings: Settings, scope: Scope, *,
            gateway: str | None = None, only: str | None = None) -> list[DeviceHealth]:
    """Paired devices in scope (of one gateway), with why each needs attention; ``only``:
    ``attention`` (any reason) or one reason of ``flags``."""
    named = flags(settings)
    if only not in (None, "attention", *named):
        raise Invalid(f"no filter {only!r}: attention or one of {', '.join(named)}",
                      field="filter")
    if gateway is not None:
        places.gateway_in(conn, scope, gateway)
    reasons = sql.SQL(", ").join(
        sql.SQL("CASE WHEN {} THEN {} END").format(cond, sql.Literal(name))
        for name, cond in named.items())
    inner = _DEVICES.format(state=state_sql(settings.self_test_period, settings.self_test_grace),
                            due=due_sql(settings.self_test_period),
                            scope=scope.where("h.region_id", unplaced=True),
                            gateway=sql.Literal(gateway))
    outer = sql.SQL("SELECT * FROM (SELECT x.*, array_remove(ARRAY[{}], NULL) AS attention "
                    "FROM ({}) x) y").format(reasons, inner)
    if only == "attention":
        outer += sql.SQL(" WHERE cardinality(attention) > 0")
    elif only is not None:
        outer += sql.SQL(" WHERE {} = ANY (attention)").format(sql.Literal(only))
    return fetch(conn, DeviceHealth, outer + sql.SQL(" ORDER BY gateway_id, uid"))


@dataclass(frozen=True, slots=True)
class GatewayHealth:
    id: str
    home_id: int | None
    address: str | None
    state: str
    state_since: datetime | None
    last_seen: datetime | None
    uptime_s: float | None
    heartbeat_s: float | None
    outbox_depth: int | None
    outbox_alarms: int | None
    outbox_oldest_s: float | None
    config_rev: int | None
    firmware: str | None  # the version its retained status names
    devices: int
    attention: int  # its devices needing attention


_GATEWAYS = sql.SQL(
    "SELECT g.id, g.home_id, h.address, g.state, g.state_since, g.last_seen, "
    "(g.last_heartbeat->>'uptime_s')::float8 AS uptime_s, "
    "(g.last_heartbeat->>'interval_s')::float8 AS heartbeat_s, "
    "(g.last_heartbeat->'outbox'->>'depth')::int8 AS outbox_depth, "
    "(g.last_heartbeat->'outbox'->>'alarms')::int8 AS outbox_alarms, "
    "(g.last_heartbeat->'outbox'->>'oldest_s')::float8 AS outbox_oldest_s, "
    "(g.last_heartbeat->>'config_rev')::int AS config_rev, g.firmware, "
    "(SELECT count(*) FROM devices d WHERE d.gateway_id = g.id)::int AS devices, 0 AS attention "
    "FROM gateways g LEFT JOIN homes h ON h.id = g.home_id WHERE {} ")


def gateways(conn: psycopg.Connection[Any], settings: Settings, scope: Scope
             ) -> list[GatewayHealth]:
    """Gateways in scope with their last heartbeat's health, by id."""
    found = fetch(conn, GatewayHealth, _GATEWAYS.format(
        scope.where("h.region_id", unplaced=True)) + sql.SQL("ORDER BY g.id"))
    counts: dict[str | None, int] = {}
    for d in devices(conn, settings, scope, only="attention"):
        counts[d.gateway_id] = counts.get(d.gateway_id, 0) + 1
    return [GatewayHealth(**{**_fields(g), "attention": counts.get(g.id, 0)}) for g in found]


def _fields(g: GatewayHealth) -> dict[str, Any]:
    return {f: getattr(g, f) for f in g.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class Presence:
    ts: datetime
    state: str


def presence(conn: psycopg.Connection[Any], scope: Scope, gateway: str,
             limit: int = 100) -> list[Presence]:
    """The gateway's online/offline changes, newest first."""
    places.gateway_in(conn, scope, gateway)
    return fetch(conn, Presence, sql.SQL(
        "SELECT ts, state FROM gateway_presence WHERE gateway_id = %s ORDER BY ts DESC "
        "LIMIT %s"), (gateway, limit))


def note_firmware(conn: psycopg.Connection[Any], gateway: str, version: str) -> None:
    """The version a gateway's retained status names (presence's hook)."""
    conn.execute("UPDATE gateways SET firmware = %s WHERE id = %s AND firmware IS DISTINCT "
                 "FROM %s", (version, gateway, version))
