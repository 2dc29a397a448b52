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
from typing import NamedTuple

from hardware.catalog import Model, battery_percent, get_model
from kernel.contract import MAX_HEARD, DeviceHealth, HeardDevice, PairedDevice
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
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
# columns added after the first release (a state made before gets them on open)
_HEARD_COLUMNS = (("battery_mv", "INTEGER"), ("model", "TEXT"))


class UnknownModel(ValueError):
    """Pairing named a device model the catalogue does not have."""


class _Heard(NamedTuple):
    frames: int
    last_seen: float
    rssi: int | None
    battery_mv: int | None
    model: str | None


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
        have = {row[1] for row in self._db.execute("PRAGMA table_info(heard)")}
        for name, kind in _HEARD_COLUMNS:
            if name not in have:
                self._db.execute(f"ALTER TABLE heard ADD COLUMN {name} {kind}")
        self._clock = clock
        self._started = clock()
        self.devices: dict[str, Device] = {}
        for uid, model_id, label in self._db.execute("SELECT device, model, label FROM paired"):
            self.devices[uid] = Device(uid, get_model(model_id), label)
        self._heard_flush: dict[str, _Heard] = {}

    def close(self) -> None:
        self.flush_heard()
        self._db.close()

    @property
    def config_rev(self) -> int:
        """The revision of the server's config last applied (0: none yet)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'config_rev'").fetchone()
        return int(row[0]) if row else 0

    def set_config_rev(self, rev: int) -> None:
        self._db.execute("INSERT INTO meta VALUES ('config_rev', ?) ON CONFLICT(key) DO UPDATE "
                         "SET value = excluded.value", (str(rev),))

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

    def seen(self, uid: str, rssi: int | None = None, battery_mv: int | None = None,
             model: str | None = None) -> Device | None:
        """Record a frame from ``uid``; return its Device if paired, else count it as heard
        (``model``: what the frame suggests the device is, kept for the technician)."""
        now = self._clock()
        device = self.devices.get(uid)
        if device is None:
            old = self._heard_flush.get(uid) or self._heard_row(uid)
            self._heard_flush[uid] = _Heard(old.frames + 1, now, rssi,
                                            battery_mv or old.battery_mv, model or old.model)
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

    def first_heard(self, uid: str) -> bool:
        """Whether the frame ``seen`` just counted for the unpaired ``uid`` was its first."""
        heard = self._heard_flush.get(uid)
        return heard is not None and heard.frames == 1

    def _heard_row(self, uid: str) -> _Heard:
        row = self._db.execute("SELECT count, last_seen, rssi, battery_mv, model FROM heard "
                               "WHERE device=?", (uid,)).fetchone()
        return _Heard(*row) if row else _Heard(0, 0.0, None, None, None)

    def flush_heard(self) -> None:
        """Persist the heard-not-paired counters (batched: a noisy neighbour costs no fsyncs)."""
        rows = [(uid, *h) for uid, h in self._heard_flush.items()]
        self._heard_flush.clear()
        if rows:
            self._db.executemany(
                "INSERT INTO heard (device, count, last_seen, rssi, battery_mv, model) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT(device) DO UPDATE SET "
                "count=excluded.count, last_seen=excluded.last_seen, rssi=excluded.rssi, "
                "battery_mv=excluded.battery_mv, model=excluded.model", rows)

    def heard(self) -> list[tuple[str, int, float, int | None]]:
        """Devices heard but not paired: (uid, frames, last seen, rssi), most recent first."""
        self.flush_heard()
        return [tuple(r) for r in self._db.execute(
            "SELECT device, count, last_seen, rssi FROM heard ORDER BY last_seen DESC")]

    def heard_devices(self) -> list[HeardDevice]:
        """The heard-not-paired list as the heartbeat carries it (most recent first)."""
        self.flush_heard()
        return [HeardDevice(device=uid, frames=count, last_seen=last, rssi=rssi,
                            battery_mv=mv, model=model)
                for uid, count, last, rssi, mv, model in self._db.execute(
                    "SELECT device, count, last_seen, rssi, battery_mv, model FROM heard "
                    "ORDER BY last_seen DESC LIMIT ?", (MAX_HEARD,))]

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
