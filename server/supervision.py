"""Supervision: devices that stop reporting and gateways that stop heart-beating.

A device silent for ``misses`` × its model's supervision interval, behind a gateway that is
online, becomes one stored ``device_silent`` event (source 'server') and its P3 alert; it is
reported again only after it has been heard in between. A gateway whose heartbeats stop
(without an LWT reaching us) is marked offline after ``misses`` heartbeat intervals.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from hardware.catalog import MODELS
from kernel.contract import EventType
from server.alerts import engine
from server.store import insert_server_event, set_gateway_state

log = logging.getLogger(__name__)

# Only paired devices (the server's list, ``server.devices``): an unpaired or replaced one is
# never "silent". Silence counts from the last sign of life, or from when the gateway came
# online (a device cannot be heard through a gateway that was away), or from pairing.
_SILENT = """
SELECT d.uid, d.gateway_id, d.model,
       extract(epoch FROM greatest(d.last_seen, d.paired_at, g.state_since))::float8
FROM devices d JOIN gateways g ON g.id = d.gateway_id
WHERE g.state = 'online' AND d.silent_since IS NULL AND d.unpaired_at IS NULL
  AND greatest(d.last_seen, d.paired_at, g.state_since) < now() - make_interval(secs => %s)
"""

_STALE_GATEWAYS = """
SELECT id, extract(epoch FROM last_seen)
FROM gateways
WHERE state = 'online' AND last_seen < now() - make_interval(
    secs => %s * coalesce((last_heartbeat->>'interval_s')::float8, %s))
"""


@dataclass(frozen=True, slots=True)
class SupervisionReport:
    silent_devices: list[str]
    stale_gateways: list[str]


def supervise(conn: psycopg.Connection[Any], misses: int = 3,
              default_heartbeat_s: float = 30.0) -> SupervisionReport:
    """One supervision pass (autocommit connection): raise silent-device events, expire gateways."""
    shortest = min(m.supervision_interval_s for m in MODELS.values())
    silent = []
    with conn.transaction():
        for uid, gw, model_id, last in conn.execute(_SILENT, (misses * shortest,)).fetchall():
            model = MODELS.get(model_id)
            quiet_for = time.time() - last if last is not None else 0.0
            if model is None or quiet_for < misses * model.supervision_interval_s:
                continue
            data = {"last_seen": last, "interval_s": model.supervision_interval_s}
            event = insert_server_event(conn, gw, uid, EventType.DEVICE_SILENT, time.time(), data)
            engine.on_events(conn, [event])
            conn.execute("UPDATE devices SET silent_since = now() WHERE uid = %s", (uid,))
            silent.append(uid)
    stale = []
    for gw, _last_seen in conn.execute(_STALE_GATEWAYS, (misses, default_heartbeat_s)).fetchall():
        if set_gateway_state(conn, gw, "offline", time.time()):
            stale.append(gw)
    for uid in silent:
        log.warning("device %s is silent (missed %d supervision intervals)", uid, misses)
    for gw in stale:
        log.warning("gateway %s stopped heart-beating: marked offline", gw)
    return SupervisionReport(silent, stale)
