"""TimescaleDB path: hypertables, compression, retention, continuous aggregates.

These run only where the test database offers TimescaleDB (the ``timescale_schema`` fixture
skips otherwise, and fails instead under ``PINGANLING_TEST_EXPECT_TIMESCALE=1``, as on CI's
TimescaleDB run); point PINGANLING_TEST_DATABASE_URL at such a server to run them (README:
"Pointing at TimescaleDB"). The policies are TimescaleDB's own background jobs; a test runs
one now with ``run_job`` instead of waiting for its schedule (the scheduler may be running it
at the same time: it starts each job as soon as it is registered).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
import pytest
from psycopg import sql

from kernel import contract
from server.store import (
    ActivityMinute,
    Backend,
    StoreConfig,
    acc_window,
    activity_hourly,
    apply_policies,
    copy_acc_blocks,
    copy_activity,
    copy_vitals,
    run_maintenance,
    vitals_daily,
)
from server.store.config import ROLLUP_TIMEZONE, ROLLUPS, TIME_SERIES
from server.store.timescale import extension_schema
from tests.fixtures.database import DbSchema
from tests.fixtures.waiting import eventually_sync

pytestmark = pytest.mark.timescale

DEVICE = "ble-c47c8d6a1234"
GW = "gw-home-1"


def call(conn: psycopg.Connection[Any], procedure: str, *args: Any) -> None:
    """``CALL <ext>.<procedure>(args)``, the extension's schema spelled out, the arguments as
    literals: no parameters, so it is a simple query outside any transaction block."""
    ext = extension_schema(conn)
    assert ext is not None
    conn.execute(sql.SQL("CALL {}.{}({})").format(
        sql.Identifier(ext), sql.Identifier(procedure),
        sql.SQL(", ").join(sql.Literal(a) for a in args)))


def _jobs(conn: psycopg.Connection[Any], schema: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The schema's policy jobs by (table or view, procedure): their config."""
    rows = conn.execute(
        "SELECT coalesce(c.view_name, j.hypertable_name), j.proc_name, j.config"
        " FROM timescaledb_information.jobs j"
        " LEFT JOIN timescaledb_information.continuous_aggregates c"
        "   ON c.materialization_hypertable_schema = j.hypertable_schema"
        "  AND c.materialization_hypertable_name = j.hypertable_name"
        " WHERE j.hypertable_schema = %s OR c.view_schema = %s", (schema, schema)).fetchall()
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for name, proc, config in rows:
        assert (name, proc) not in found, f"two {proc} jobs on {name}"
        found[(name, proc)] = config
    return found


def run_policy(conn: psycopg.Connection[Any], schema: str, name: str, proc: str) -> None:
    """Run the schema's ``proc`` job on table or view ``name`` now, in this session."""
    row = conn.execute(
        "SELECT j.job_id FROM timescaledb_information.jobs j"
        " LEFT JOIN timescaledb_information.continuous_aggregates c"
        "   ON c.materialization_hypertable_schema = j.hypertable_schema"
        "  AND c.materialization_hypertable_name = j.hypertable_name"
        " WHERE (j.hypertable_schema = %s OR c.view_schema = %s)"
        " AND coalesce(c.view_name, j.hypertable_name) = %s AND j.proc_name = %s",
        (schema, schema, name, proc)).fetchone()
    assert row is not None, f"no {proc} job on {name}"
    errors: list[str] = []

    def ran() -> bool:
        try:
            call(conn, "run_job", row[0])
            return True
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DataException) as exc:
            # the scheduler's own run of this job, started when the policy was registered, is
            # doing the same work ("concurrent refresh", "chunk is already compressed"): once
            # it is done, a run goes through (and finds little left to do)
            errors.append(str(exc).strip())
            return False

    try:
        eventually_sync(ran, 60, f"{proc} on {name} to run")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last error: {errors[-1:]}") from None


def _interval(conn: psycopg.Connection[Any], text: str) -> timedelta:
    row = conn.execute("SELECT %s::interval", (text,)).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def chunks(conn: psycopg.Connection[Any], schema: str, table: str,
           ) -> dict[datetime, bool]:
    """The table's chunks: range start → compressed?"""
    rows = conn.execute(
        "SELECT range_start, is_compressed FROM timescaledb_information.chunks"
        " WHERE hypertable_schema = %s AND hypertable_name = %s", (schema, table))
    return dict(rows.fetchall())


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
        settings = dict(conn.execute(
            "SELECT hypertable::text, segmentby || ' / ' || orderby"
            " FROM timescaledb_information.hypertable_compression_settings"
            " WHERE hypertable::regclass::text = ANY(%s)", (list(TIME_SERIES),)).fetchall())
        views = conn.execute(
            "SELECT view_name, materialized_only FROM timescaledb_information"
            ".continuous_aggregates WHERE view_schema = %s ORDER BY 1",
            (timescale_schema.name,)).fetchall()
    assert found == {
        table: (True, column, timedelta(hours=1) if table == "acc_blocks" else timedelta(7))
        for table, column in TIME_SERIES.items()}
    assert settings == {  # segmented by device (a device's rows together), ordered by time
        "acc_blocks": "device / t0", "vitals": "device / ts",
        "activity_minute": "device / minute", "device_health": "device,gateway_id / ts"}
    assert views == [(view, True) for view in sorted(ROLLUPS)]


def test_policies_follow_the_config_and_are_replaced_when_it_changes(
        timescale_schema: DbSchema) -> None:
    config = StoreConfig()
    with timescale_schema.connect(autocommit=True) as conn:
        jobs = _jobs(conn, timescale_schema.name)
        for table in TIME_SERIES:
            compress = jobs[(table, "policy_compression")]
            retain = jobs[(table, "policy_retention")]
            assert _interval(conn, compress["compress_after"]) == config.compression_age(table)
            assert _interval(conn, retain["drop_after"]) == config.retention(table)
        for view in ROLLUPS:
            refresh = jobs[(view, "policy_refresh_continuous_aggregate")]
            assert _interval(conn, refresh["start_offset"]) == config.rollup_refresh_window
            assert _interval(conn, refresh["end_offset"]) == timedelta(0)  # all closed buckets
            assert (view, "policy_retention") not in jobs  # rollups are kept by default
        assert len(jobs) == 2 * len(TIME_SERIES) + len(ROLLUPS)

        changed = StoreConfig(acc_retention=timedelta(hours=48), compress_after=timedelta(3),
                              rollup_retention=timedelta(days=800))
        assert apply_policies(conn, changed) is Backend.TIMESCALE  # what a restart does
        jobs = _jobs(conn, timescale_schema.name)  # one job per policy: replaced, not added
        assert _interval(conn, jobs[("acc_blocks", "policy_retention")]["drop_after"]) \
            == timedelta(hours=48)
        assert _interval(conn, jobs[("vitals", "policy_compression")]["compress_after"]) \
            == timedelta(3)
        for view in ROLLUPS:
            assert _interval(conn, jobs[(view, "policy_retention")]["drop_after"]) \
                == timedelta(days=800)
        assert len(jobs) == 2 * len(TIME_SERIES) + 2 * len(ROLLUPS)


def _acc(t0: datetime, count: int, seed: int = 1) -> list[contract.AccBlock]:
    rng = np.random.default_rng(seed)
    return [contract.AccBlock(DEVICE, int((t0.timestamp() + i) * 1e6), i, 50.0, 1 / 256,
                              rng.integers(-999, 999, size=(50, 3), dtype=np.int16))
            for i in range(count)]


def test_compression_policy_compresses_old_chunks_that_read_and_take_late_data(
        timescale_schema: DbSchema) -> None:
    now = datetime.now(UTC)
    old = now.replace(minute=10, second=0, microsecond=0) - timedelta(days=2)  # one hour chunk
    recent = now - timedelta(minutes=5)
    sent = _acc(old, 20)
    with timescale_schema.connect(autocommit=True) as conn:
        copy_acc_blocks(conn, [(b, now.timestamp()) for b in sent + _acc(recent, 3, 2)])
        before = acc_window(conn, DEVICE, old, old + timedelta(minutes=1))
        run_policy(conn, timescale_schema.name, "acc_blocks", "policy_compression")
        state = chunks(conn, timescale_schema.name, "acc_blocks")
        after = acc_window(conn, DEVICE, old, old + timedelta(minutes=1))

        late = _acc(old + timedelta(seconds=20), 1, 3)  # after an outage, into the old chunk
        copy_acc_blocks(conn, [(b, now.timestamp()) for b in late])
        with_late = acc_window(conn, DEVICE, old, old + timedelta(minutes=1))
    assert sorted(state.values()) == [False, True], state  # the old hour only: 1 day (config)
    assert len(before) == len(after) == 20
    np.testing.assert_array_equal(before.samples, after.samples)
    np.testing.assert_array_equal(before.t0_us, after.t0_us)
    assert len(with_late) == 21
    np.testing.assert_array_equal(with_late.samples[-50:], late[0].samples)


def test_replays_into_compressed_chunks_are_duplicates_and_recounts_still_apply(
        timescale_schema: DbSchema) -> None:
    """A gateway re-sends old telemetry after a long outage: the chunks it lands in are
    compressed (vitals, activity: after 7 days); ON CONFLICT must still see the rows."""
    # noon UTC: the 10 minutes of readings sit in one 7-day chunk (they start at midnight)
    old = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) \
        - timedelta(days=20)
    readings = [contract.VitalReading(ts=old.timestamp() + 60 * i, hr=60 + i, contact=True)
                for i in range(10)]
    minute = ActivityMinute(DEVICE, old.timestamp(), "wearable", 3, 0.25)
    name = timescale_schema.name
    with timescale_schema.connect(autocommit=True) as conn:
        copy_vitals(conn, [contract.Vitals(gw=GW, device=DEVICE, readings=readings)])
        copy_activity(conn, [minute])
        for table in ("vitals", "activity_minute"):
            run_policy(conn, name, table, "policy_compression")
            assert list(chunks(conn, name, table).values()) == [True], table

        replay = copy_vitals(conn, [contract.Vitals(gw=GW, device=DEVICE, readings=readings)])
        copy_activity(conn, [ActivityMinute(DEVICE, old.timestamp(), "wearable", 5, 0.5)])
        copy_activity(conn, [ActivityMinute(DEVICE, old.timestamp(), "wearable", 4, 0.1)])
        stored = conn.execute("SELECT count(*), count(DISTINCT ts) FROM vitals").fetchone()
        recount = conn.execute("SELECT count, score FROM activity_minute").fetchall()
        call(conn, "refresh_continuous_aggregate", "activity_hourly", None, None)
        hours = activity_hourly(conn, DEVICE, old - timedelta(hours=1), old + timedelta(hours=1))
    assert (replay.written, replay.duplicates) == (0, 10)
    assert stored == (10, 10)
    assert recount == [(5, 0.5)]  # upwards only, as on plain PostgreSQL
    assert [(h.minutes, h.count_sum, h.score_max) for h in hours] == [(1, 5, 0.5)]


def test_retention_jobs_drop_old_chunks(timescale_schema: DbSchema) -> None:
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=500), now - timedelta(hours=1)
    with timescale_schema.connect(autocommit=True) as conn:
        copy_vitals(conn, [contract.Vitals(gw=GW, device=DEVICE, readings=[
            contract.VitalReading(ts=old.timestamp(), hr=70),
            contract.VitalReading(ts=recent.timestamp(), hr=72)])])
        copy_acc_blocks(conn, [(b, now.timestamp()) for b in
                               _acc(now - timedelta(hours=80), 2) + _acc(recent, 1)])
        for table in ("vitals", "acc_blocks"):
            run_policy(conn, timescale_schema.name, table, "policy_retention")
        left = [r[0] for r in conn.execute("SELECT hr FROM vitals ORDER BY ts")]
        acc_left = [r[0] for r in conn.execute("SELECT seq FROM acc_blocks")]
        acc_chunks = chunks(conn, timescale_schema.name, "acc_blocks")
    assert left == [72]  # 400 days
    assert acc_left == [0]  # 72 hours: the recent block
    assert len(acc_chunks) == 1


def test_maintenance_leaves_the_work_to_the_jobs(timescale_schema: DbSchema) -> None:
    with timescale_schema.connect(autocommit=True) as conn:
        report = run_maintenance(conn)
    assert report.backend is Backend.TIMESCALE
    assert (report.created, report.dropped, report.errors) == ([], [], [])


def test_refresh_policies_materialise_every_closed_bucket_not_the_open_one(
        timescale_schema: DbSchema) -> None:
    """As on plain PostgreSQL, a closed hour (or Shanghai day) is in the rollup after the next
    refresh; the open one is not (``materialized_only``)."""
    shanghai = ZoneInfo(ROLLUP_TIMEZONE)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    today = datetime.now(shanghai).replace(hour=0, minute=0, second=0, microsecond=0)
    hours = [hour - timedelta(hours=h) for h in (3, 2, 1, 0)]
    days = [today - timedelta(days=d) for d in (2, 1, 0)]
    name = timescale_schema.name
    with timescale_schema.connect(autocommit=True) as conn:
        copy_activity(conn, [ActivityMinute(DEVICE, h.timestamp(), "wearable", 2) for h in hours])
        copy_vitals(conn, [contract.Vitals(gw=GW, device=DEVICE, readings=[
            contract.VitalReading(ts=d.timestamp() + 60, hr=70) for d in days])])
        # register the policies again, as a restart does: a run of the old jobs the scheduler
        # started before the rows above were written is cancelled; every run now sees them
        apply_policies(conn, StoreConfig())
        for view in ROLLUPS:
            run_policy(conn, name, view, "policy_refresh_continuous_aggregate")
        seen: list[tuple[list[datetime], list[datetime]]] = []

        def materialised() -> bool:
            """The closed buckets, not the open one (which may have closed meanwhile)."""
            hour_now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            today_now = datetime.now(shanghai).replace(hour=0, minute=0, second=0,
                                                       microsecond=0)
            got_hours = [h.hour for h in activity_hourly(conn, DEVICE, hours[0], hours[-1]
                                                         + timedelta(hours=1))]
            got_days = [d.day for d in vitals_daily(conn, DEVICE, days[0], days[-1]
                                                    + timedelta(days=1))]
            seen.append((got_hours, got_days))
            return (got_hours == hours[:-1] or (hour_now > hour and got_hours == hours)) and \
                (got_days == days[:-1] or (today_now > today and got_days == days))

        # a scheduler's run of the new job may hold the window when ours asks for it
        try:
            eventually_sync(materialised, 30, "the closed buckets, not the open one")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; hours, days materialised: {seen[-1]}") from None
    assert seen[-1][0][:3] == hours[:-1]
    assert seen[-1][1][:2] == days[:-1]


def _fill(conn: psycopg.Connection[Any], start: datetime) -> None:
    rng = np.random.default_rng(5)
    copy_activity(conn, [
        ActivityMinute(device, start.timestamp() + 60 * m, source, int(rng.integers(0, 6)),
                       None if source == "pir" else float(rng.random()))
        for device, source in ((DEVICE, "wearable"), ("pir-hall-0001", "pir"))
        for m in range(0, 6 * 60) if rng.random() < 0.7])
    copy_vitals(conn, [contract.Vitals(gw=GW, device=DEVICE, readings=[
        contract.VitalReading(ts=start.timestamp() + 600 * i, hr=int(rng.integers(50, 110)),
                              spo2=None if i % 5 == 0 else float(rng.integers(900, 1000)) / 10)
        for i in range(0, 6 * 24 * 3)])])


def test_continuous_aggregates_equal_the_plain_rollups(timescale_schema: DbSchema,
                                                      plain_schema: DbSchema) -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=10) + timedelta(hours=13)  # 21:00 in Shanghai
    end = start + timedelta(days=4)
    with timescale_schema.connect(autocommit=True) as ts, \
            plain_schema.connect(autocommit=True) as plain:
        _fill(ts, start)
        _fill(plain, start)
        run_maintenance(plain, end + timedelta(days=1))
        for view in ROLLUPS:
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
    assert len(days_plain) == 4  # Shanghai days: the first starts at 21:00 local
    assert [_vkey(d) for d in days_ts] == [_vkey(d) for d in days_plain]
    for a, b in zip(days_ts, days_plain, strict=True):
        assert a.spo2_avg == pytest.approx(b.spo2_avg)


def _key(r: Any) -> tuple[Any, ...]:
    return (r.device, r.source, r.hour, r.minutes, r.active_minutes, r.count_sum, r.score_max)


def _vkey(d: Any) -> tuple[Any, ...]:
    return (d.device, d.day, d.readings, d.hr_n, d.hr_min, d.hr_max, d.hr_avg, d.spo2_n,
            d.spo2_min)
