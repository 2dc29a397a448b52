"""TimescaleDB path: hypertables, compression, retention, continuous aggregates.

These run only where ``CREATE EXTENSION timescaledb`` succeeds on the test database (the
``timescale_schema`` fixture skips otherwise); point PINGANLING_TEST_DATABASE_URL at such a
server to run them (README: "Pointing at TimescaleDB").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql

from pinganling import contract
from server.store import (
    ActivityMinute,
    Backend,
    StoreConfig,
    acc_window,
    activity_hourly,
    copy_acc_blocks,
    copy_activity,
    copy_vitals,
    run_maintenance,
    vitals_daily,
)
from server.store.config import TIME_SERIES
from server.store.timescale import extension_schema
from tests.fixtures.database import DbSchema

pytestmark = pytest.mark.timescale

DEVICE = "ble-c47c8d6a1234"


def call(conn: psycopg.Connection[Any], procedure: str, *args: Any) -> None:
    """``CALL <ext>.<procedure>(args)``, the extension's schema spelled out, the arguments as
    literals: no parameters, so it is a simple query outside any transaction block."""
    ext = extension_schema(conn)
    assert ext is not None
    conn.execute(sql.SQL("CALL {}.{}({})").format(
        sql.Identifier(ext), sql.Identifier(procedure),
        sql.SQL(", ").join(sql.Literal(a) for a in args)))


def test_time_series_tables_are_hypertables(timescale_schema: DbSchema) -> None:
    assert timescale_schema.backend is Backend.TIMESCALE
    with timescale_schema.connect(autocommit=True) as conn:
        rows = conn.execute(
            "SELECT h.hypertable_name, h.compression_enabled, d.column_name, d.time_interval"
            " FROM timescaledb_information.hypertables h"
            " JOIN timescaledb_information.dimensions d USING (hypertable_schema,"
            " hypertable_name) WHERE h.hypertable_schema = %s", (timescale_schema.name,))
        found = {name: (compressed, column, interval) for name, compressed, column, interval
                 in rows}
    assert found == {
        table: (True, column, timedelta(hours=1) if table == "acc_blocks" else timedelta(7))
        for table, column in TIME_SERIES.items()}


def _jobs(conn: psycopg.Connection[Any], schema: str) -> dict[tuple[str, str], dict[str, Any]]:
    rows = conn.execute(
        "SELECT coalesce(c.view_name, j.hypertable_name), j.proc_name, j.config"
        " FROM timescaledb_information.jobs j"
        " LEFT JOIN timescaledb_information.continuous_aggregates c"
        "   ON c.materialization_hypertable_schema = j.hypertable_schema"
        "  AND c.materialization_hypertable_name = j.hypertable_name"
        " WHERE j.hypertable_schema = %s OR c.view_schema = %s", (schema, schema))
    return {(name, proc): config for name, proc, config in rows}


def _interval(conn: psycopg.Connection[Any], text: str) -> timedelta:
    row = conn.execute("SELECT %s::interval", (text,)).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def test_compression_and_retention_policies_follow_the_config(
        timescale_schema: DbSchema) -> None:
    config = StoreConfig()
    with timescale_schema.connect(autocommit=True) as conn:
        jobs = _jobs(conn, timescale_schema.name)
        for table in TIME_SERIES:
            compress = jobs[(table, "policy_compression")]
            retain = jobs[(table, "policy_retention")]
            assert _interval(conn, compress["compress_after"]) == config.compression_age(table)
            assert _interval(conn, retain["drop_after"]) == config.retention(table)
        for view in ("activity_hourly", "vitals_daily"):
            assert (view, "policy_refresh_continuous_aggregate") in jobs
            assert (view, "policy_retention") not in jobs  # rollups are kept by default


def test_compressed_chunks_read_the_same(timescale_schema: DbSchema) -> None:
    t0 = datetime.now(UTC) - timedelta(days=2)
    rng = np.random.default_rng(1)
    sent = [contract.AccBlock(DEVICE, int((t0.timestamp() + i) * 1e6), i, 50.0, 1 / 256,
                              rng.integers(-999, 999, size=(50, 3), dtype=np.int16))
            for i in range(20)]
    with timescale_schema.connect(autocommit=True) as conn:
        copy_acc_blocks(conn, [(b, t0.timestamp()) for b in sent])
        before = acc_window(conn, DEVICE, t0, t0 + timedelta(minutes=1))
        ext = sql.Identifier(extension_schema(conn) or "public")
        compressed = conn.execute(
            sql.SQL("SELECT {ext}.compress_chunk(c) FROM {ext}.show_chunks("
                    "'acc_blocks'::regclass, older_than => %s) c").format(ext=ext),
            (timedelta(days=1),)).fetchall()
        assert compressed
        after = acc_window(conn, DEVICE, t0, t0 + timedelta(minutes=1))
    assert len(before) == len(after) == 20
    np.testing.assert_array_equal(before.samples, after.samples)
    np.testing.assert_array_equal(before.t0_us, after.t0_us)


def test_retention_job_drops_old_chunks(timescale_schema: DbSchema) -> None:
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=500), now - timedelta(hours=1)
    with timescale_schema.connect(autocommit=True) as conn:
        copy_vitals(conn, [contract.Vitals(gw="gw-home-1", device=DEVICE, readings=[
            contract.VitalReading(ts=old.timestamp(), hr=70),
            contract.VitalReading(ts=recent.timestamp(), hr=72)])])
        row = conn.execute(
            "SELECT job_id FROM timescaledb_information.jobs WHERE hypertable_schema = %s"
            " AND hypertable_name = 'vitals' AND proc_name = 'policy_retention'",
            (timescale_schema.name,)).fetchone()
        assert row is not None
        call(conn, "run_job", row[0])
        left = [r[0] for r in conn.execute("SELECT hr FROM vitals ORDER BY ts")]
    assert left == [72]


def test_maintenance_leaves_the_work_to_the_jobs(timescale_schema: DbSchema) -> None:
    with timescale_schema.connect(autocommit=True) as conn:
        report = run_maintenance(conn)
    assert report.backend is Backend.TIMESCALE
    assert (report.created, report.dropped, report.errors) == ([], [], [])


def _fill(conn: psycopg.Connection[Any], start: datetime) -> None:
    rng = np.random.default_rng(5)
    copy_activity(conn, [
        ActivityMinute(device, start.timestamp() + 60 * m, source, int(rng.integers(0, 6)),
                       None if source == "pir" else float(rng.random()))
        for device, source in ((DEVICE, "wearable"), ("pir-hall-0001", "pir"))
        for m in range(0, 6 * 60) if rng.random() < 0.7])
    copy_vitals(conn, [contract.Vitals(gw="gw-home-1", device=DEVICE, readings=[
        contract.VitalReading(ts=start.timestamp() + 600 * i, hr=int(rng.integers(50, 110)),
                              spo2=None if i % 5 == 0 else float(rng.integers(900, 1000)) / 10)
        for i in range(0, 6 * 24 * 3)])])


def test_continuous_aggregates_equal_the_plain_rollups(timescale_schema: DbSchema,
                                                      plain_schema: DbSchema) -> None:
    start = datetime(2026, 3, 1, 13, 0, tzinfo=UTC)
    end = start + timedelta(days=4)
    with timescale_schema.connect(autocommit=True) as ts, \
            plain_schema.connect(autocommit=True) as plain:
        _fill(ts, start)
        _fill(plain, start)
        run_maintenance(plain, end + timedelta(days=1))
        for view in ("activity_hourly", "vitals_daily"):
            call(ts, "refresh_continuous_aggregate", view, None, None)
        for device in (DEVICE, "pir-hall-0001"):
            expected = activity_hourly(plain, device, start, end)
            got = activity_hourly(ts, device, start, end)
            assert expected
            assert [_key(r) for r in got] == [_key(r) for r in expected]
            for hour_ts, hour_plain in zip(got, expected, strict=True):
                assert hour_ts.score_avg == pytest.approx(hour_plain.score_avg)
        days_plain = vitals_daily(plain, DEVICE, start - timedelta(days=1), end)
        days_ts = vitals_daily(ts, DEVICE, start - timedelta(days=1), end)
    assert days_plain
    assert [_vkey(d) for d in days_ts] == [_vkey(d) for d in days_plain]
    for a, b in zip(days_ts, days_plain, strict=True):
        assert a.spo2_avg == pytest.approx(b.spo2_avg)


def _key(r: Any) -> tuple[Any, ...]:
    return (r.device, r.source, r.hour, r.minutes, r.active_minutes, r.count_sum, r.score_max)


def _vkey(d: Any) -> tuple[Any, ...]:
    return (d.device, d.day, d.readings, d.hr_n, d.hr_min, d.hr_max, d.hr_avg, d.spo2_n,
            d.spo2_min)
