"""Read queries for the API and the detectors; the same SQL on both backends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg.rows import class_row

from kernel import contract

_ACC = """
SELECT DISTINCT ON (t0)
       (extract(epoch FROM t0) * 1000000)::int8, seq, rate_hz, scale_g, n, samples
FROM acc_blocks
WHERE device = %s AND t0 >= %s AND t0 < %s
ORDER BY t0, received_at
"""


@dataclass(frozen=True, slots=True)
class AccSeries:
    """One device's accelerometer blocks in a time range, as arrays (duplicates removed).

    ``samples`` holds all blocks' samples back to back, shape (total, 3), int16 counts;
    block ``i`` is ``samples[offsets[i]:offsets[i + 1]]``.
    """

    device: str
    t0_us: npt.NDArray[np.int64]
    seq: npt.NDArray[np.int64]
    rate_hz: npt.NDArray[np.float32]
    scale_g: npt.NDArray[np.float32]
    offsets: npt.NDArray[np.int64]
    samples: npt.NDArray[np.int16]

    def __len__(self) -> int:
        return len(self.t0_us)

    def g(self) -> npt.NDArray[np.float32]:
        """Samples in g: each block's counts times its scale."""
        per_sample = np.repeat(self.scale_g, np.diff(self.offsets))
        return self.samples.astype(np.float32) * per_sample[:, None]

    def times_us(self) -> npt.NDArray[np.int64]:
        """Time of every sample: block start plus index over the block's rate."""
        counts = np.diff(self.offsets)
        index = np.arange(len(self.samples)) - np.repeat(self.offsets[:-1], counts)
        step = np.repeat(1e6 / self.rate_hz.astype(np.float64), counts)
        return np.repeat(self.t0_us, counts) + np.round(index * step).astype(np.int64)

    def blocks(self) -> list[contract.AccBlock]:
        return [contract.AccBlock(self.device, int(self.t0_us[i]), int(self.seq[i]),
                                  float(self.rate_hz[i]), float(self.scale_g[i]),
                                  self.samples[self.offsets[i]:self.offsets[i + 1]])
                for i in range(len(self))]


def acc_window(conn: psycopg.Connection[Any], device: str, start: datetime,
               end: datetime) -> AccSeries:
    """Blocks of ``device`` whose t0 is in [start, end), oldest first."""
    rows = conn.execute(_ACC, (device, start, end)).fetchall()
    counts = np.fromiter((r[4] for r in rows), dtype=np.int64, count=len(rows))
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    raw = b"".join(r[5] for r in rows)
    return AccSeries(
        device=device,
        t0_us=np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
        seq=np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows)),
        rate_hz=np.fromiter((r[2] for r in rows), dtype=np.float32, count=len(rows)),
        scale_g=np.fromiter((r[3] for r in rows), dtype=np.float32, count=len(rows)),
        offsets=offsets,
        samples=np.frombuffer(raw, dtype=contract.ACC_DTYPE).reshape(-1, 3),
    )


@dataclass(frozen=True, slots=True)
class VitalRow:
    device: str
    ts: datetime
    hr: int | None
    contact: bool | None
    rr_ms: list[float] | None
    spo2: float | None
    pulse: float | None


@dataclass(frozen=True, slots=True)
class ActivityRow:
    device: str
    minute: datetime
    source: str
    count: int
    score: float | None


@dataclass(frozen=True, slots=True)
class ActivityHour:
    device: str
    source: str
    hour: datetime
    minutes: int
    active_minutes: int
    count_sum: int
    score_avg: float | None
    score_max: float | None


@dataclass(frozen=True, slots=True)
class VitalsDay:
    device: str
    day: datetime
    readings: int
    hr_n: int
    hr_min: int | None
    hr_max: int | None
    hr_avg: Decimal | None
    spo2_n: int
    spo2_min: float | None
    spo2_avg: float | None


def recent_vitals(conn: psycopg.Connection[Any], device: str, hours: float,
                  now: datetime | None = None) -> list[VitalRow]:
    """Readings of the last ``hours`` (to ``now``, default the database's clock), oldest first."""
    with conn.cursor(row_factory=class_row(VitalRow)) as cur:
        return cur.execute(
            "SELECT device, ts, hr, contact, rr_ms, spo2, pulse FROM vitals"
            " WHERE device = %s AND ts >= coalesce(%s, now()) - %s AND ts <= coalesce(%s, now())"
            " ORDER BY ts", (device, now, timedelta(hours=hours), now)).fetchall()


def recent_activity(conn: psycopg.Connection[Any], device: str, hours: float,
                    now: datetime | None = None) -> list[ActivityRow]:
    """Activity minutes of the last ``hours``, oldest first."""
    with conn.cursor(row_factory=class_row(ActivityRow)) as cur:
        return cur.execute(
            "SELECT device, minute, source, count, score FROM activity_minute"
            " WHERE device = %s AND minute >= coalesce(%s, now()) - %s"
            " AND minute <= coalesce(%s, now()) ORDER BY minute",
            (device, now, timedelta(hours=hours), now)).fetchall()


def activity_hourly(conn: psycopg.Connection[Any], device: str, start: datetime,
                    end: datetime) -> list[ActivityHour]:
    """Hourly activity rollup rows of ``device`` with hour in [start, end)."""
    with conn.cursor(row_factory=class_row(ActivityHour)) as cur:
        return cur.execute(
            "SELECT device, source, hour, minutes, active_minutes, count_sum, score_avg,"
            " score_max FROM activity_hourly WHERE device = %s AND hour >= %s AND hour < %s"
            " ORDER BY hour, source", (device, start, end)).fetchall()


def vitals_daily(conn: psycopg.Connection[Any], device: str, start: datetime,
                 end: datetime) -> list[VitalsDay]:
    """Daily vital-sign rollup rows (days start at midnight Asia/Shanghai) in [start, end)."""
    with conn.cursor(row_factory=class_row(VitalsDay)) as cur:
        return cur.execute(
            "SELECT device, day, readings, hr_n, hr_min, hr_max, hr_avg, spo2_n, spo2_min,"
            " spo2_avg FROM vitals_daily WHERE device = %s AND day >= %s AND day < %s"
            " ORDER BY day", (device, start, end)).fetchall()
