"""Write path for gateway state, device liveness and server-made events; the checks every
write shares (sync psycopg, one batch each). Gateway events: ``server.store.events``.

Timestamps are Unix seconds (floats), as in the contract. Each function is atomic: it runs
in its own transaction, or in a savepoint when the caller already has one open.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, NamedTuple

import psycopg
from psycopg.types.json import Jsonb

from kernel import contract, storable
from server.store.errors import BadRow

GatewayState = Literal["online", "offline", "unknown"]

_INT16 = storable.INT16
_INT32 = storable.INT32

_TOUCH = """
UPDATE devices d SET
    last_seen = greatest(d.last_seen, u.seen),
    rssi = CASE WHEN d.last_seen > u.seen THEN d.rssi ELSE coalesce(u.rssi, d.rssi) END,
    battery_mv = CASE WHEN d.last_seen > u.seen THEN d.battery_mv
                      ELSE coalesce(u.battery_mv, d.battery_mv) END,
    battery_pct = CASE WHEN d.last_seen > u.seen THEN d.battery_pct
                       ELSE coalesce(u.battery_pct, d.battery_pct) END,
    silent_since = CASE WHEN u.seen > d.silent_since THEN NULL ELSE d.silent_since END
FROM (SELECT DISTINCT ON (x.device) x.device, to_timestamp(x.ts) AS seen, x.rssi,
             x.battery_mv, x.battery_pct
      FROM unnest(%s::text[], %s::float8[], %s::int2[], %s::int4[], %s::int2[])
           AS x(device, ts, rssi, battery_mv, battery_pct)
      ORDER BY x.device, x.ts DESC) u
WHERE d.uid = u.device
"""


class DeviceSeen(NamedTuple):
    """A sign of life from a device: when, and the link/battery figures heard with it."""

    device: str
    ts: float
    rssi: int | None = None
    battery_mv: int | None = None
    battery_pct: int | None = None


def check_ts(ts: float, what: str = "ts") -> float:
    """Refuse NaN, infinities and clocks outside 1970…2200 (BadRow 'bad_time'); the
    contract's ``UnixTime`` refuses the same at decode."""
    if not storable.plausible_time(ts):
        raise BadRow("bad_time", f"{what}={ts!r} is not a plausible Unix time")
    return ts


def check_int(value: int | None, bounds: tuple[int, int], what: str) -> int | None:
    if value is not None and not bounds[0] <= value <= bounds[1]:
        raise BadRow("out_of_range", f"{what}={value} outside {bounds}")
    return value


def validate_event(event: contract.Event) -> None:
    """What the database would refuse, as a BadRow the ingest can count per message."""
    expected = contract.event_id(event.gw, event.inc, event.n)
    if event.id != expected:
        raise BadRow("event_id_mismatch", f"id {event.id!r} is not {expected!r}")
    check_ts(event.ts, "event.ts")
    check_int(event.rssi, _INT16, "rssi")
    check_int(event.battery_mv, _INT32, "battery_mv")
    check_int(event.n, (1, 2**63 - 1), "n")
    check_int(event.dseq, (0, 2**63 - 1), "dseq")


def set_gateway_state(conn: psycopg.Connection[Any], gateway: str, state: GatewayState,
                      ts: float, heartbeat: contract.Heartbeat | None = None) -> bool:
    """Record a gateway's state as observed at ``ts``; True when the state changed.

    Unknown gateways are ignored (False): gateways exist by provisioning, not by being heard.
    A state older than the current one's ``state_since`` is ignored (retained or replayed).
    A heartbeat, when given, is stored with its config revision and counts as a sign of life,
    like an ``online`` state.
    """
    if not contract.GATEWAY_ID_RE.match(gateway):
        raise BadRow("bad_gateway_id", f"{gateway!r} does not match the contract's pattern")
    check_ts(ts)
    with conn.transaction():
        row = conn.execute(
            "SELECT state, extract(epoch FROM state_since)::float8 FROM gateways"
            " WHERE id = %s FOR NO KEY UPDATE", (gateway,)).fetchone()  # FK checks may pass
        if row is None:
            return False
        current, since = row
        changed = state != current and (since is None or ts >= since)
        if changed:
            conn.execute("UPDATE gateways SET state = %s, state_since = to_timestamp(%s)"
                         " WHERE id = %s", (state, ts, gateway))
            conn.execute("INSERT INTO gateway_presence (gateway_id, ts, state)"
                         " VALUES (%s, to_timestamp(%s), %s) ON CONFLICT DO NOTHING",
                         (gateway, ts, state))
        if state == "online" or heartbeat is not None:
            _seen(conn, gateway, ts, heartbeat)
    return changed


def _seen(conn: psycopg.Connection[Any], gateway: str, ts: float,
          heartbeat: contract.Heartbeat | None) -> None:
    if heartbeat is None:
        conn.execute("UPDATE gateways SET last_seen = greatest(last_seen, to_timestamp(%s))"
                     " WHERE id = %s", (ts, gateway))
        return
    conn.execute(
        "UPDATE gateways SET last_seen = greatest(last_seen, to_timestamp(%s)),"
        " last_heartbeat = %s, config_rev = %s WHERE id = %s",
        (ts, Jsonb(heartbeat.model_dump(mode="json")), heartbeat.config_rev, gateway))


def known_gateways(conn: psycopg.Connection[Any]) -> set[str]:
    """Ids of every gateway the server knows."""
    return {row[0] for row in conn.execute("SELECT id FROM gateways")}


def touch_devices(conn: psycopg.Connection[Any], seen: Iterable[DeviceSeen]) -> int:
    """Advance last_seen (and rssi / battery, when newer) of known devices; rows updated.

    Unknown devices are ignored: devices are added by pairing, not by being heard.
    """
    columns: list[list[Any]] = [[], [], [], [], []]
    for s in seen:
        check_ts(s.ts, "device ts")
        check_int(s.rssi, _INT16, "rssi")
        check_int(s.battery_mv, _INT32, "battery_mv")
        check_int(s.battery_pct, _INT16, "battery_pct")
        for column, value in zip(columns, s, strict=True):
            column.append(value)
    if not columns[0]:
        return 0
    with conn.transaction():
        return conn.execute(_TOUCH, columns).rowcount


def seen_in_events(events: Iterable[contract.Event]) -> list[DeviceSeen]:
    return [DeviceSeen(e.device, e.ts, e.rssi, e.battery_mv) for e in events]


def seen_in_heartbeat(heartbeat: contract.Heartbeat) -> list[DeviceSeen]:
    """Devices a heartbeat reports, at their own last_seen (or the heartbeat's time)."""
    return [DeviceSeen(d.device, d.last_seen if d.last_seen is not None else heartbeat.ts,
                       d.rssi, d.battery_mv, d.battery_pct)
            for d in heartbeat.devices]


_SERVER_EVENT = """
WITH n AS (SELECT nextval('server_event_n') AS n)
INSERT INTO events (id, gateway_id, n, device, type, ts, received_at, data, source)
SELECT 'srv:' || n.n, %s, n.n, %s, %s, to_timestamp(%s), now(), %s, 'server' FROM n
RETURNING id, n
"""


def insert_server_event(conn: psycopg.Connection[Any], gateway: str, device: str,
                        etype: contract.EventType, ts: float,
                        data: dict[str, float | int | str | bool | None] | None = None,
                        ) -> contract.Event:
    """Store an event the server itself found (supervision, detectors); id ``srv:<n>``."""
    check_ts(ts)
    row = conn.execute(_SERVER_EVENT, (gateway, device, etype.value, ts,
                                       Jsonb(data or {}))).fetchone()
    assert row is not None
    return contract.Event(id=row[0], gw=gateway, n=row[1], ts=ts, device=device, type=etype,
                          data=data or {})
