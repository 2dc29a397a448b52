"""Telemetry COPY path and the read queries over it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest

from kernel import contract
from server.store import (
    ActivityMinute,
    acc_window,
    copy_acc_blocks,
    copy_activity,
    copy_device_health,
    copy_vitals,
    recent_activity,
    recent_vitals,
)
from tests.fixtures.ingest import RECENT

# recent: on TimescaleDB the retention and compression jobs leave it alone during a test
T0 = RECENT
DEVICE = "ble-c47c8d6a1234"


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, UTC)


def blocks(count: int, device: str = DEVICE, rate: float = 50.0) -> list[contract.AccBlock]:
    rng = np.random.default_rng(count)
    n = int(rate)
    return [contract.AccBlock(device, int((T0 + i) * 1_000_000) + 123, i, rate, 1 / 256,
                              rng.integers(-4096, 4096, size=(n, 3), dtype=np.int16))
            for i in range(count)]


def test_acc_blocks_round_trip_as_arrays(db: psycopg.Connection[Any]) -> None:
    sent = blocks(5) + blocks(3, device="ble-other-000001")
    # through the wire format, as ingest receives them
    decoded = [contract.AccBlock.decode(b.encode()) for b in sent]
    result = copy_acc_blocks(db, [(b, T0 + 10) for b in decoded])
    assert (result.written, result.duplicates, sum(result.rejected.values())) == (8, 0, 0)
    series = acc_window(db, DEVICE, at(1), at(4))
    mine = sent[1:4]
    assert len(series) == 3
    assert series.t0_us.tolist() == [b.t0_us for b in mine]
    assert series.seq.tolist() == [1, 2, 3]
    np.testing.assert_array_equal(series.samples, np.concatenate([b.samples for b in mine]))
    np.testing.assert_allclose(series.g(), series.samples.astype(np.float32) / 256)
    times = series.times_us()
    assert times[0] == mine[0].t0_us
    assert times[50] == mine[1].t0_us
    assert times[1] - times[0] == 20_000  # 50 Hz
    assert [b.seq for b in series.blocks()] == [1, 2, 3]


def test_redelivered_blocks_are_read_once(db: psycopg.Connection[Any]) -> None:
    sent = blocks(3)
    copy_acc_blocks(db, [(b, T0 + 5) for b in sent])
    copy_acc_blocks(db, [(b, T0 + 9) for b in sent[1:]])  # replay
    series = acc_window(db, DEVICE, at(0), at(10))
    assert series.seq.tolist() == [0, 1, 2]
    assert len(series.samples) == 150


def test_bad_blocks_are_counted_and_skipped(db: psycopg.Connection[Any]) -> None:
    good = blocks(2)
    wrong_dtype = replace(good[0], t0_us=good[0].t0_us + 5_000_000,
                          samples=good[0].samples.astype(np.int32))
    wrong_shape = replace(good[0], t0_us=good[0].t0_us + 6_000_000,
                          samples=good[0].samples.reshape(-1, 2))
    absurd_time = replace(good[0], t0_us=2**62)
    absurd_rate = replace(good[0], t0_us=good[0].t0_us + 7_000_000, rate_hz=1e300)
    no_scale = replace(good[0], t0_us=good[0].t0_us + 8_000_000, scale_g=float("nan"))
    result = copy_acc_blocks(db, [(b, T0) for b in (good[0], wrong_dtype, wrong_shape,
                                                    absurd_time, absurd_rate, no_scale,
                                                    good[1])])
    assert result.written == 2
    assert dict(result.rejected) == {"bad_samples": 2, "bad_time": 1, "bad_block": 2}
    assert db.execute("SELECT count(*) FROM acc_blocks").fetchone() == (2,)


def test_vitals_are_stored_once(db: psycopg.Connection[Any]) -> None:
    readings = [contract.VitalReading(ts=T0 + i, hr=60 + i, contact=True,
                                      rr_ms=[1000.0 - i, 990.5], spo2=97.5)
                for i in range(4)]
    message = contract.Vitals(gw="gw-home-1", device=DEVICE, readings=readings)
    first = copy_vitals(db, [message])
    again = copy_vitals(db, [message, contract.Vitals(
        gw="gw-home-1", device=DEVICE,
        readings=[contract.VitalReading(ts=T0 + 10, pulse=61.0),
                  # refused at decode by the contract; model_construct skips its checks to
                  # reach the store's own
                  contract.VitalReading.model_construct(ts=float("inf"), hr=1),
                  contract.VitalReading.model_construct(ts=T0 + 11, rr_ms=[1e300])])])
    assert (first.written, first.duplicates) == (4, 0)
    assert (again.written, again.duplicates, dict(again.rejected)) == (
        1, 4, {"bad_time": 1, "out_of_range": 1})
    rows = recent_vitals(db, DEVICE, hours=1, now=at(60))
    assert [(r.ts, r.hr, r.rr_ms, r.spo2, r.pulse) for r in rows] == [
        *((at(i), 60 + i, [1000.0 - i, 990.5], 97.5, None) for i in range(4)),
        (at(10), None, [], None, 61.0)]


def test_activity_is_floored_to_the_minute_and_checked(db: psycopg.Connection[Any]) -> None:
    result = copy_activity(db, [
        ActivityMinute(DEVICE, T0 + 61.5, "wearable", 12, 0.25),
        ActivityMinute(DEVICE, T0 + 119.0, "wearable", 3),  # same minute: duplicate
        ActivityMinute(DEVICE, T0 + 120.0, "teleport", 3),
        ActivityMinute(DEVICE, T0 + 180.0, "wearable", -1),
        ActivityMinute("pir-hall-0001", T0 + 180.0, "pir", 2),
        ActivityMinute(DEVICE, T0 + 240.0, "wearable", 1, 1e300),
    ])
    assert (result.written, result.duplicates) == (2, 1)
    assert dict(result.rejected) == {"bad_source": 1, "out_of_range": 2}
    rows = recent_activity(db, DEVICE, hours=1, now=at(600))
    assert [(r.minute, r.source, r.count, r.score) for r in rows] == [
        (at(60), "wearable", 12, 0.25)]


def test_device_health_from_heartbeats(db: psycopg.Connection[Any]) -> None:
    hb = contract.Heartbeat(
        gw="gw-home-1", ts=T0, uptime_s=1, interval_s=30,
        outbox=contract.OutboxHealth(depth=0, alarms=0, shed=0),
        devices=[contract.DeviceHealth(device="rf-01020304", kind="button", rssi=-60,
                                       battery_mv=2900, battery_pct=70),
                 contract.DeviceHealth.model_construct(  # the contract refuses it at decode
                     device=DEVICE, kind="wearable", rssi=-99999)])
    result = copy_device_health(db, [hb, hb])
    assert (result.written, result.duplicates, dict(result.rejected)) == (
        1, 1, {"out_of_range": 2})
    rows = db.execute("SELECT ts, gateway_id, device, rssi, battery_mv, battery_pct"
                      " FROM device_health").fetchall()
    assert rows == [(at(0), "gw-home-1", "rf-01020304", -60, 2900, 70)]


def test_several_batches_in_one_transaction_stay_separate(db_schema: Any) -> None:
    with db_schema.connect() as conn, conn.transaction():
        a = copy_activity(conn, [ActivityMinute(DEVICE, T0, "wearable", 1)])
        b = copy_activity(conn, [ActivityMinute(DEVICE, T0 + 60, "wearable", 2)])
        c = copy_activity(conn, [ActivityMinute(DEVICE, T0, "wearable", 1)])
    assert [(r.written, r.duplicates) for r in (a, b, c)] == [(1, 0), (1, 0), (0, 1)]


def test_failed_batch_stores_nothing(db_schema: Any) -> None:
    def crash_before_commit(conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            copy_acc_blocks(conn, [(b, T0) for b in blocks(3)])
            raise RuntimeError("writer crashed before commit")

    with db_schema.connect() as conn:
        with pytest.raises(RuntimeError):
            crash_before_commit(conn)
        assert conn.execute("SELECT count(*) FROM acc_blocks").fetchone() == (0,)


def test_window_bounds_are_half_open(db: psycopg.Connection[Any]) -> None:
    sent = blocks(3)
    copy_acc_blocks(db, [(b, T0) for b in sent])
    start = datetime.fromtimestamp(sent[1].t0_us / 1e6, UTC).replace(
        microsecond=sent[1].t0_us % 1_000_000)
    series = acc_window(db, DEVICE, start, start + timedelta(seconds=1))
    assert series.seq.tolist() == [1]
    empty = acc_window(db, "ble-nobody-0001", at(0), at(10))
    assert len(empty) == 0
    assert empty.samples.shape == (0, 3)
