"""Telemetry write path: binary COPY, batched, with per-row checks that cost little.

Accelerometer blocks (the high-rate stream, ~10k/s) go straight into ``acc_blocks`` by
binary COPY; duplicates from redelivery are tolerated there and removed by the read query
(a unique index would cost ~50 % more database CPU per row). Vitals, activity minutes and
device health are copied into a session temp table, then moved with ``INSERT … ON CONFLICT
DO NOTHING``, so replays are counted as duplicates and never stored twice.
Rows that fail a check are skipped and counted by reason in the result; the rest are stored.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from psycopg import postgres, sql
from psycopg.adapt import Dumper
from psycopg.pq import Format

from kernel import contract, storable
from server.store.errors import BadRow
from server.store.writes import check_int, check_ts

_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01, PostgreSQL's epoch, in Unix µs
_INT8 = struct.Struct(">q").pack
_T0_US = (round(storable.TIME_RANGE[0] * 1e6), round(storable.TIME_RANGE[1] * 1e6))  # check_ts's
_MAX_DEVICE = 64
T = TypeVar("T")
_INT16 = storable.INT16
_INT32 = storable.INT32
ACTIVITY_SOURCES = frozenset({"wearable", "pir", "door"})

_ACC_COPY = ("COPY acc_blocks (device, t0, seq, rate_hz, scale_g, n, samples, received_at)"
             " FROM STDIN (FORMAT BINARY)")
_ACC_TYPES = ["text", "timestamptz", "int8", "float4", "float4", "int2", "bytea", "timestamptz"]


@dataclass(slots=True)
class WriteResult:
    """Outcome of one batch: rows stored, duplicates skipped, rejected rows by reason."""

    written: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class ActivityMinute:
    """Activity of one device in one minute (``minute``: Unix seconds, floored to the minute)."""

    device: str
    minute: float
    source: str
    count: int
    score: float | None = None


class UnixMicrosDumper(Dumper):
    """Binary ``timestamptz`` from integer microseconds since the Unix epoch.

    Registered by oid only, on the COPY cursor: with ``set_types`` it replaces the datetime
    dumper there, so rows carry plain ints (~0.2 µs) instead of datetimes (~1.7 µs each).
    """

    format = Format.BINARY
    oid = postgres.types["timestamptz"].oid

    def dump(self, obj: int) -> bytes:
        return _INT8(obj - _PG_EPOCH_US)


def micros(ts: float, what: str = "ts") -> int:
    """Checked Unix seconds → integer microseconds, the form the COPY cursors take."""
    return round(check_ts(ts, what) * 1_000_000)


def _copy_cursor(conn: psycopg.Connection[Any]) -> psycopg.Cursor[Any]:
    cur = conn.cursor()
    cur.adapters.register_dumper(None, UnixMicrosDumper)
    return cur


def copy_acc_blocks(conn: psycopg.Connection[Any],
                    rows: Iterable[tuple[contract.AccBlock, float]]) -> WriteResult:
    """Binary-COPY accelerometer blocks with their receive time into ``acc_blocks``."""
    result = WriteResult()
    last_recv: tuple[float, int] | None = None
    with conn.transaction(), _copy_cursor(conn) as cur, cur.copy(_ACC_COPY) as copy:
        copy.set_types(_ACC_TYPES)
        for block, received_at in rows:
            try:
                samples = _acc_samples(block)
                if last_recv is None or last_recv[0] != received_at:
                    last_recv = (received_at, micros(received_at, "received_at"))
            except BadRow as exc:
                result.rejected[exc.reason] += 1
                continue
            copy.write_row((block.device, block.t0_us, block.seq, block.rate_hz, block.scale_g,
                            len(samples), samples.tobytes(), last_recv[1]))
            result.written += 1
    return result


def _acc_samples(block: contract.AccBlock) -> Any:
    samples = block.samples
    if samples.dtype != contract.ACC_DTYPE or samples.ndim != 2 or samples.shape[1] != 3:
        raise BadRow("bad_samples", f"samples {samples.dtype} {samples.shape}, want (n, 3) <i2")
    if not 0 < len(block.device) <= _MAX_DEVICE or not 0 <= block.seq < 2**63:
        raise BadRow("bad_block", f"device {block.device!r}, seq {block.seq}")
    if not (0 < block.rate_hz <= 100_000 and math.isfinite(block.scale_g)
            and 0 < abs(block.scale_g) <= 1_000 and len(samples) < 2**15):
        raise BadRow("bad_block",
                     f"rate {block.rate_hz} Hz, scale {block.scale_g} g, n={len(samples)}")
    if not _T0_US[0] <= block.t0_us <= _T0_US[1]:
        raise BadRow("bad_time", f"t0_us={block.t0_us} is not a plausible time")
    return samples


def copy_vitals(conn: psycopg.Connection[Any], messages: Iterable[contract.Vitals]) -> WriteResult:
    """Store every reading of the given Vitals messages; duplicates (device, ts) skipped."""
    def row(item: tuple[str, contract.VitalReading]) -> tuple[Any, ...]:
        device, r = item
        if r.rr_ms and not all(0 <= x <= 60_000 for x in r.rr_ms):
            raise BadRow("out_of_range", "rr_ms outside 0…60000")
        return (device, micros(r.ts), r.hr, r.contact, list(r.rr_ms), r.spo2,
                r.pulse)

    items = ((m.device, r) for m in messages for r in m.readings)
    return _staged(conn, "vitals", ("device", "ts", "hr", "contact", "rr_ms", "spo2", "pulse"),
                   ["text", "timestamptz", "int2", "bool", "float4[]", "float4", "float4"],
                   items, row, bar=_NO_HEALTH_CONSENT)


# Vital signs of a resident without health-monitoring consent in force are not stored
# (``vitals_barred``, migration 0015); they count as rejected "no_consent".
_NO_HEALTH_CONSENT = sql.SQL("DELETE FROM {stage} WHERE device IN (SELECT device FROM "
                             "vitals_barred)")


def copy_activity(conn: psycopg.Connection[Any], rows: Iterable[ActivityMinute]) -> WriteResult:
    """Store per-minute activity. A (device, minute) stored again keeps the larger count and
    score: a minute is recounted as more of its events arrive (``written`` counts the rows
    inserted or raised; an equal or smaller count again is a duplicate)."""
    def row(a: ActivityMinute) -> tuple[Any, ...]:
        if a.source not in ACTIVITY_SOURCES:
            raise BadRow("bad_source", f"activity source {a.source!r}")
        check_int(a.count, (0, 2**31 - 1), "count")
        if a.score is not None and not abs(a.score) <= 1e30:  # float4 range, NaN refused
            raise BadRow("out_of_range", f"score {a.score}")
        minute = check_ts(a.minute, "minute")
        return (a.device, micros(minute - minute % 60), a.source, a.count, a.score)

    return _staged(conn, "activity_minute", ("device", "minute", "source", "count", "score"),
                   ["text", "timestamptz", "text", "int4", "float4"], rows, row,
                   _ACTIVITY_MOVE)


# one row per (device, minute) even if a batch has two (ON CONFLICT DO UPDATE needs it)
_ACTIVITY_MOVE = sql.SQL(
    "WITH moved AS (DELETE FROM {stage} RETURNING {cols})"
    " INSERT INTO {table} ({cols}) SELECT device, minute, max(source), max(count), max(score)"
    " FROM moved GROUP BY device, minute"
    " ON CONFLICT (device, minute) DO UPDATE"
    " SET count = greatest({table}.count, excluded.count),"
    " score = greatest({table}.score, excluded.score)"
    " WHERE excluded.count > {table}.count"
    " OR excluded.score > coalesce({table}.score, '-Infinity'::float4)")


def copy_device_health(conn: psycopg.Connection[Any],
                       heartbeats: Iterable[contract.Heartbeat]) -> WriteResult:
    """Store the per-device health lines of heartbeats; duplicates (device, ts, gw) skipped."""
    def row(item: tuple[contract.Heartbeat, contract.DeviceHealth]) -> tuple[Any, ...]:
        hb, d = item
        check_int(d.rssi, _INT16, "rssi")
        check_int(d.battery_pct, _INT16, "battery_pct")
        check_int(d.battery_mv, _INT32, "battery_mv")
        return (micros(hb.ts, "heartbeat.ts"), hb.gw, d.device, d.rssi,
                d.battery_mv, d.battery_pct)

    items = ((hb, d) for hb in heartbeats for d in hb.devices)
    return _staged(conn, "device_health",
                   ("ts", "gateway_id", "device", "rssi", "battery_mv", "battery_pct"),
                   ["timestamptz", "text", "text", "int2", "int4", "int2"], items, row)


_MOVE = sql.SQL("WITH moved AS (DELETE FROM {stage} RETURNING {cols})"
                " INSERT INTO {table} ({cols}) SELECT {cols} FROM moved ON CONFLICT DO NOTHING")


def _staged(conn: psycopg.Connection[Any], table: str, columns: tuple[str, ...],
            types: list[str], items: Iterable[T], to_row: Callable[[T], tuple[Any, ...]],
            move: sql.SQL = _MOVE, *, bar: sql.SQL | None = None) -> WriteResult:
    """COPY into a temp twin of ``table``, then move the rows across, skipping duplicates.

    The twin is ``ON COMMIT DELETE ROWS`` (truncated in place at commit, no catalog churn)
    and emptied by the move itself, so several calls in one transaction stay separate.
    ``bar`` deletes staged rows that must not be stored (counted as rejected "no_consent").
    """
    result = WriteResult()
    names = {"table": sql.Identifier(table), "stage": sql.Identifier(f"pal_stage_{table}"),
             "cols": sql.SQL(", ").join(map(sql.Identifier, columns))}
    with conn.transaction(), _copy_cursor(conn) as cur:
        cur.execute(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table})"
                            " ON COMMIT DELETE ROWS").format(**names))
        staged = 0
        with cur.copy(sql.SQL("COPY {stage} ({cols}) FROM STDIN (FORMAT BINARY)")
                      .format(**names)) as copy:
            copy.set_types(types)
            for item in items:
                try:
                    values = to_row(item)
                except BadRow as exc:
                    result.rejected[exc.reason] += 1
                    continue
                copy.write_row(values)
                staged += 1
        if bar is not None:
            cur.execute(bar.format(**names))
            if cur.rowcount:
                result.rejected["no_consent"] += cur.rowcount
                staged -= cur.rowcount
        cur.execute(move.format(**names))
        result.written = cur.rowcount
        result.duplicates = staged - result.written
    return result
