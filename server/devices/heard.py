"""A gateway's devices as the technician sees them: the server's list with each device's
health, the config's state (pending until the gateway applied the newest revision), the
pairing window, and the devices the gateway hears but has not paired (from its last
heartbeat: model suggested by their frames, RSSI, battery), each marked whether it was heard
while the window was open. Heard devices outside a window are listed too.

The window is the server's only (no gateway command): a gateway always reports what it
hears, and the window marks which of those the technician just woke up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row, dict_row

from hardware.catalog import MODELS
from server.devices import config
from server.devices.pairing import locate
from server.scope import Scope

DEFAULT_WINDOW_S = 120
MAX_WINDOW_S = 3600


@dataclass(frozen=True, slots=True)
class PairedRow:
    uid: str
    model: str
    kind: str
    label: str
    resident_id: int | None
    paired_at: datetime | None
    last_seen: datetime | None
    battery_pct: int | None
    battery_mv: int | None
    rssi: int | None
    silent_since: datetime | None


@dataclass(frozen=True, slots=True)
class FormerRow:
    uid: str
    model: str
    label: str
    unpaired_at: datetime
    replaced_by: str | None


@dataclass(frozen=True, slots=True)
class Heard:
    device: str
    model: str | None
    frames: int
    last_seen: float
    rssi: int | None
    battery_mv: int | None
    in_window: bool


@dataclass(frozen=True, slots=True)
class GatewayDevices:
    gateway_id: str
    online: str
    desired_rev: int
    published_rev: int
    applied_rev: int
    config: config.ConfigState
    pairing_open: bool
    pairing_opened_at: datetime | None
    pairing_until: datetime | None
    devices: list[PairedRow]
    former: list[FormerRow]
    heard: list[Heard]
    models: list[dict[str, str]]  # the catalogue, for choosing a device's model


def gateway_devices(conn: psycopg.Connection[Any], scope: Scope,
                    gateway: str) -> GatewayDevices:
    """Everything the technician's device panel shows for one gateway (NotFound outside
    ``scope``)."""
    locate(conn, scope, gateway)
    with conn.cursor(row_factory=dict_row) as cur:
        g = cur.execute(
            "SELECT state, desired_rev, published_rev, config_rev, pairing_opened_at, "
            "pairing_until, coalesce(pairing_until > now(), false) AS open, "
            "extract(epoch FROM pairing_opened_at)::float8 AS opened, "
            "extract(epoch FROM pairing_until)::float8 AS until, "
            "coalesce(last_heartbeat->'heard', '[]') AS heard FROM gateways WHERE id = %s",
            (gateway,)).fetchone()
    assert g is not None
    with conn.cursor(row_factory=class_row(PairedRow)) as cur:
        paired = cur.execute(
            "SELECT uid, model, kind, label, resident_id, paired_at, last_seen, battery_pct, "
            "battery_mv, rssi, silent_since FROM devices WHERE gateway_id = %s AND "
            "unpaired_at IS NULL ORDER BY paired_at, uid", (gateway,)).fetchall()
    with conn.cursor(row_factory=class_row(FormerRow)) as cur:
        former = cur.execute(
            "SELECT uid, model, label, unpaired_at, replaced_by FROM devices WHERE "
            "gateway_id = %s AND unpaired_at IS NOT NULL ORDER BY unpaired_at DESC LIMIT 20",
            (gateway,)).fetchall()
    mine = {d.uid for d in paired}
    heard = [_heard(h, g["opened"], g["until"]) for h in g["heard"]
             if isinstance(h, dict) and h.get("device") not in mine]
    return GatewayDevices(
        gateway, g["state"], g["desired_rev"], g["published_rev"], g["config_rev"],
        config.config_state(g["desired_rev"], g["published_rev"], g["config_rev"]),
        g["open"], g["pairing_opened_at"], g["pairing_until"], paired, former,
        sorted(heard, key=lambda h: (not h.in_window, -h.last_seen)),
        [{"id": m.id, "name": m.name, "kind": m.kind.value} for m in MODELS.values()])


def _heard(h: dict[str, Any], opened: float | None, until: float | None) -> Heard:
    last = float(h.get("last_seen") or 0.0)
    in_window = opened is not None and until is not None and opened <= last <= until
    return Heard(str(h["device"]), h.get("model"), int(h.get("frames") or 0), last,
                 h.get("rssi"), h.get("battery_mv"), in_window)


def open_window(conn: psycopg.Connection[Any], scope: Scope, gateway: str,
                seconds: int = DEFAULT_WINDOW_S) -> datetime | None:
    """Open the gateway's pairing window for ``seconds`` from now (0: close it); its end."""
    with conn.transaction():
        locate(conn, scope, gateway, lock=True)
        row = conn.execute(
            "UPDATE gateways SET pairing_opened_at = CASE WHEN %(s)s > 0 THEN now() ELSE "
            "pairing_opened_at END, pairing_until = CASE WHEN %(s)s > 0 THEN now() + "
            "make_interval(secs => %(s)s) ELSE least(pairing_until, now()) END "
            "WHERE id = %(g)s RETURNING pairing_until", {"s": seconds, "g": gateway}).fetchone()
    assert row is not None
    until: datetime | None = row[0]
    return until
