"""Per-minute activity for the activity store: wearable counts from accelerometer blocks (one
batched counter over every wearable), PIR and door events counted per minute."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import numpy as np
import psycopg

from analytics.activity import ActivityCounter
from kernel.contract import AccBlock
from server.store import ActivityMinute, copy_activity

RATE_HZ = 50.0
EVENT_SOURCES = {"motion": "pir", "door_open": "door", "door_closed": "door"}


class WearableActivity:
    """One ActivityCounter row per wearable; a tick's blocks go in as one (rows, n, 3) batch."""

    def __init__(self, capacity: int = 256) -> None:
        self.rows: dict[str, int] = {}
        self.counter = ActivityCounter(RATE_HZ, capacity)

    def _row(self, device: str) -> int:
        if device not in self.rows:
            if len(self.rows) == self.counter.zi.shape[1]:
                self._grow(2 * len(self.rows))
            self.rows[device] = len(self.rows)
        return self.rows[device]

    def _grow(self, capacity: int) -> None:
        old, new = self.counter, ActivityCounter(RATE_HZ, capacity)
        k = old.zi.shape[1]
        new.zi[:, :k], new.fresh[:k], new.minute[:k] = old.zi, old.fresh, old.minute
        new.count[:k], new.samples[:k] = old.count, old.samples
        self.counter = new

    def minutes(self, blocks: list[AccBlock]) -> list[ActivityMinute]:
        """Completed minutes, from blocks at 50 Hz (others are left to the fall detector)."""
        rounds: list[list[AccBlock]] = []
        depth: Counter[str] = Counter()
        for b in blocks:
            if b.rate_hz == RATE_HZ and len(b.samples):
                self._row(b.device)
                if depth[b.device] == len(rounds):
                    rounds.append([])
                rounds[depth[b.device]].append(b)
                depth[b.device] += 1
        devices = {row: uid for uid, row in self.rows.items()}
        out: list[ActivityMinute] = []
        for batch in rounds:
            for n in sorted({len(b.samples) for b in batch}):
                out += self._round([b for b in batch if len(b.samples) == n], n, devices)
        return out

    def _round(self, batch: list[AccBlock], n: int,
               devices: dict[int, str]) -> list[ActivityMinute]:
        rows = self.counter.zi.shape[1]
        x = np.full((rows, n, 3), np.nan)
        t0 = np.full(rows, time.time() - n / RATE_HZ)
        for b in batch:
            r = self.rows[b.device]
            x[r] = b.samples * b.scale_g
            t0[r] = b.t0_us / 1e6
        done = self.counter.process(x, t0)
        return [ActivityMinute(devices[int(r)], float(m) * 60, "wearable",
                               round(float(c) * 100), float(c))
                for r, m, c in zip(done.row, done.minute, done.count, strict=True)
                if int(r) in devices]


def sensor_minutes(conn: psycopg.Connection[Any], since: float) -> tuple[list[ActivityMinute],
                                                                          float]:
    """Per-minute counts of PIR and door events for every (device, minute) that got an event
    received after ``since`` (all of that minute's events, also those of earlier passes: the
    store keeps the larger count); and the new cursor."""
    types = list(EVENT_SOURCES)
    rows = conn.execute(
        "WITH touched AS (SELECT DISTINCT device,"
        "  to_timestamp(floor(extract(epoch FROM ts) / 60) * 60) AS minute FROM events"
        "  WHERE received_at > to_timestamp(%s) AND type = ANY (%s))"
        " SELECT e.device, e.type, extract(epoch FROM t.minute)::float8, count(*),"
        "  max(extract(epoch FROM e.received_at))::float8"
        " FROM touched t JOIN events e ON e.device = t.device AND e.ts >= t.minute"
        "  AND e.ts < t.minute + interval '1 minute' AND e.type = ANY (%s)"
        " GROUP BY 1, 2, 3", (since, types, types)).fetchall()
    counts: Counter[tuple[str, float, str]] = Counter()
    cursor = since
    for device, etype, minute, n, received in rows:
        counts[(device, float(minute), EVENT_SOURCES[etype])] += int(n)
        cursor = max(cursor, received)
    return [ActivityMinute(d, m, s, n) for (d, m, s), n in counts.items()], cursor


def store_minutes(conn: psycopg.Connection[Any], minutes: list[ActivityMinute]) -> int:
    return copy_activity(conn, minutes).written if minutes else 0
