"""Paired devices (persisted) and what the gateway hears from them.

A frame from a device that is not paired is counted and listed as "heard, not paired" for the
technician; it is never forwarded as an alarm.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hardware.catalog import Model, battery_percent, get_model
from kernel.contract import DeviceHealth, PairedDevice
from kernel.placement import Placement

SCHEMA = """
CREATE TABLE IF NOT EXISTS paired (
    device    TEXT PRIMARY KEY,
    model     TEXT NOT NULL,
    label     TEXT NOT NULL DEFAULT '',
    paired_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS heard (
    device    TEXT PRIMARY KEY,
    count     INTEGER NOT NULL,
    last_seen REAL NOT NULL,
    rssi      INTEGER
);
"""


class UnknownModel(ValueError):
    """Pairing named a device model the catalogue does not have."""


@dataclass(slots=True)
class Seen:
    """Live health of one paired device, as last heard."""

    last_seen: float | None = None
    rssi: int | None = None
    battery_mv: int | None = None
    battery_pct: int | None = None
    silent_reported: bool = False


@dataclass(slots=True)
class Device:
    uid: str
    model: Model
    label: str
    seen: Seen = field(default_factory=Seen)


class Registry:
    """Paired devices in SQLite, live health in memory."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._clock = clock
        self._started = clock()
        self.devices: dict[str, Device] = {}
        for uid, model_id, label in self._db.execute("SELECT device, model, label FROM paired"):
            self.devices[uid] = Device(uid, get_model(model_id), label)
        self._heard_flush: dict[str, tuple[int, float, int | None]] = {}

    def close(self) -> None:
        self.flush_heard()
        self._db.close()

    def pair(self, uid: str, model_id: str, label: str = "") -> Device:
        try:
            model = get_model(model_id)
        except (KeyError, ValueError) as exc:
            raise UnknownModel(str(exc)) from None
        self._db.execute(
            "INSERT INTO paired VALUES (?,?,?,?) ON CONFLICT(device) DO UPDATE SET "
            "model=excluded.model, label=excluded.label", (uid, model_id, label, self._clock()))
        self._db.execute("DELETE FROM heard WHERE device=?", (uid,))
        self._heard_flush.pop(uid, None)
        old = self.devices.get(uid)
        device = Device(uid, model, label, old.seen if old else Seen())
        self.devices[uid] = device
        return device

    def unpair(self, uid: str) -> bool:
        self._db.execute("DELETE FROM paired WHERE device=?", (uid,))
        return self.devices.pop(uid, None) is not None

    def replace_all(self, wanted: Iterable[PairedDevice]) -> tuple[list[str], list[str]]:
        """Make the paired set exactly ``wanted`` (retained config); return (added, removed)."""
        wanted_by_uid = {d.device: d for d in wanted}
        removed = [uid for uid in self.devices if uid not in wanted_by_uid]
        for uid in removed:
            self.unpair(uid)
        added = []
        for uid, d in wanted_by_uid.items():
            current = self.devices.get(uid)
            if current is None or current.model.id != d.model or current.label != d.label:
                self.pair(uid, d.model, d.label)
                added.append(uid)
        return added, removed

    def model(self, uid: str) -> Model | None:
        """The model of paired device ``uid``; None when it is not paired."""
        device = self.devices.get(uid)
        return device.model if device is not None else None

    def placement(self, uid: str) -> Placement | None:
        """Where paired device ``uid`` is worn; None when it is not paired or not worn."""
        device = self.devices.get(uid)
        return device.model.placement if device is not None else None

    def seen(self, uid: str, rssi: int | None = None,
             battery_mv: int | None = None) -> Device | None:
        """Record a frame from ``uid``; return its Device if paired, else count it as heard."""
        now = self._clock()
        device = self.devices.get(uid)
        if device is None:
            count, _, _ = self._heard_flush.get(uid) or self._heard_row(uid)
            self._heard_flush[uid] = (count + 1, now, rssi)
            return None
        device.seen.last_seen = now
        device.seen.silent_reported = False
        if rssi is not None:
            device.seen.rssi = rssi
        if battery_mv:
            device.seen.battery_mv = battery_mv
        return device

    def battery_level(self, uid: str, pct: int) -> None:
        """A paired wearable reported its battery level (percent)."""
        device = self.devices.get(uid)
        if device is not None:
            device.seen.battery_pct = pct

    def _heard_row(self, uid: str) -> tuple[int, float, int | None]:
        row = self._db.execute("SELECT count, last_seen, rssi FROM heard WHERE device=?",
                               (uid,)).fetchone()
        return (row[0], row[1], row[2]) if row else (0, 0.0, None)

    def flush_heard(self) -> None:
        """Persist the heard-not-paired counters (batched: a noisy neighbour costs no fsyncs)."""
        rows = [(uid, c, t, r) for uid, (c, t, r) in self._heard_flush.items()]
        self._heard_flush.clear()
        if rows:
            self._db.executemany(
                "INSERT INTO heard VALUES (?,?,?,?) ON CONFLICT(device) DO UPDATE SET "
                "count=excluded.count, last_seen=excluded.last_seen, rssi=excluded.rssi", rows)

    def heard(self) -> list[tuple[str, int, float, int | None]]:
        """Devices heard but not paired: (uid, frames, last seen, rssi), most recent first."""
        self.flush_heard()
        return [tuple(r) for r in self._db.execute(
            "SELECT device, count, last_seen, rssi FROM heard ORDER BY last_seen DESC")]

    def silent(self, misses: int = 3) -> list[Device]:
        """Paired devices that missed ``misses`` supervision intervals and were not yet reported."""
        now = self._clock()
        out = []
        for device in self.devices.values():
            interval = device.model.supervision_interval_s
            last = device.seen.last_seen or self._started
            if interval and not device.seen.silent_reported \
                    and now - last > misses * interval:
                device.seen.silent_reported = True
                out.append(device)
        return out

    def health(self) -> list[DeviceHealth]:
        out = []
        for d in self.devices.values():
            s = d.seen
            pct = battery_percent(d.model, s.battery_mv) if s.battery_mv else s.battery_pct
            out.append(DeviceHealth(device=d.uid, kind=d.model.kind.value, last_seen=s.last_seen,
                                    rssi=s.rssi, battery_mv=s.battery_mv, battery_pct=pct))
        return out
