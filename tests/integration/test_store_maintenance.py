"""Plain PostgreSQL maintenance: partitions ahead, DEFAULT adoption, retention, rollups."""

from __future__ import annotations

import secrets
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
import pytest
from psycopg import sql

from kernel import contract
from server.store import (
    ActivityMinute,
    BackendChoice,
    StoreConfig,
    acc_window,
    activity_hourly,
    apply_policies,
    copy_acc_blocks,
    copy_activity,
    copy_vitals,
    prepare,
    run_maintenance,
    schema_conninfo,
    vitals_daily,
)
from tests.fixtures.database import DbSchema

NOW = datetime(2026, 3, 4, 10, 30, tzinfo=UTC)  # a Wednesday
DEVICE = "ble-c47c8d6a1234"


def block(t: datetime, seq: int = 0) -> contract.AccBlock:
    samples = np.full((50, 3), seq, dtype=np.int16)
    return contract.AccBlock(DEVICE, int(t.timestamp() * 1_000_000), seq, 50.0, 1 / 256, samples)


def partitions_of(conn: psycopg.Connection[Any], table: str) -> list[str]:
    rows = conn.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                        " WHERE i.inhparent = %s::regclass ORDER BY 1", (table,))
    return [r[0] for r in rows]


def where_is(conn: psycopg.Connection[Any], t: datetime) -> list[str]:
    rows = conn.execute("SELECT tableoid::regclass::text FROM acc_blocks WHERE t0 = %s", (t,))
    return [r[0] for r in rows]


def test_partitions_are_created_ahead_once(plain_db: psycopg.Connection[Any]) -> None:
    report = run_maintenance(plain_db, NOW)
    assert report.errors == []
    hours = [NOW.replace(minute=0) + timedelta(hours=h) for h in range(7)]
    assert partitions_of(plain_db, "acc_blocks") == sorted(
        ["acc_blocks_default", *(f"acc_blocks_p{h:%Y%m%d_%H%M}" for h in hours)])
    monday = datetime(2026, 3, 2, tzinfo=UTC)
    assert partitions_of(plain_db, "vitals") == sorted(
        ["vitals_default", *(f"vitals_p{monday + timedelta(weeks=w):%Y%m%d_%H%M}"
                             for w in range(3))])
    assert len(report.created) == 7 + 3 * 3
    assert run_maintenance(plain_db, NOW).created == []


def test_rows_waiting_in_default_are_adopted(plain_db: psycopg.Connection[Any]) -> None:
    early = NOW - timedelta(hours=5)  # no partition exists yet for this hour
    copy_acc_blocks(plain_db, [(block(early), early.timestamp())])
    assert where_is(plain_db, early) == ["acc_blocks_default"]
    report = run_maintenance(plain_db, NOW)
    assert report.adopted_rows == 1
    assert where_is(plain_db, early) == [f"acc_blocks_p{early.replace(minute=0):%Y%m%d_%H%M}"]
    assert plain_db.execute("SELECT count(*) FROM acc_blocks_default").fetchone() == (0,)


def test_writes_never_fail_for_lack_of_a_partition(plain_db: psycopg.Connection[Any]) -> None:
    run_maintenance(plain_db, NOW)
    far = NOW + timedelta(days=30)  # beyond the partitions made ahead
    result = copy_acc_blocks(plain_db, [(block(far), far.timestamp())])
    assert result.written == 1
    assert where_is(plain_db, far) == ["acc_blocks_default"]
    assert len(acc_window(plain_db, DEVICE, far, far + timedelta(seconds=1))) == 1


def test_expired_partitions_and_rows_are_dropped(plain_db: psycopg.Connection[Any]) -> None:
    run_maintenance(plain_db, NOW - timedelta(hours=3))  # partitions from 07:00
    kept, expired = NOW - timedelta(hours=1), NOW - timedelta(hours=2)  # 09:30, 08:30
    copy_acc_blocks(plain_db, [(block(t), t.timestamp()) for t in (expired, kept)])
    assert where_is(plain_db, expired) == ["acc_blocks_p20260304_0800"]
    apply_policies(plain_db, StoreConfig(acc_retention=timedelta(hours=2)))
    report = run_maintenance(plain_db, NOW + timedelta(minutes=30))  # cutoff 09:00
    assert report.errors == []
    assert sorted(report.dropped) == ["acc_blocks_p20260304_0700", "acc_blocks_p20260304_0800"]
    assert len(acc_window(plain_db, DEVICE, expired, expired + timedelta(seconds=1))) == 0
    assert len(acc_window(plain_db, DEVICE, kept, kept + timedelta(seconds=1))) == 1


def test_expired_rows_in_default_are_purged(plain_db: psycopg.Connection[Any]) -> None:
    stale = NOW - timedelta(days=4)
    copy_acc_blocks(plain_db, [(block(stale), NOW.timestamp())])
    report = run_maintenance(plain_db, NOW)
    assert report.purged_rows == 1
    assert plain_db.execute("SELECT count(*) FROM acc_blocks").fetchone() == (0,)


def test_ddl_gives_up_after_the_lock_timeout(plain_schema: DbSchema) -> None:
    with plain_schema.connect(autocommit=True) as maint, plain_schema.connect() as reader:
        run_maintenance(maint, NOW)
        reader.execute("SELECT count(*) FROM acc_blocks")  # holds ACCESS SHARE until rollback
        report = run_maintenance(maint, NOW + timedelta(days=5),
                                 lock_timeout=timedelta(milliseconds=100))
        reader.rollback()
        assert [e.split(":")[0] for e in report.errors] == ["acc_blocks"]
        assert any(name.startswith("vitals_p") for name in report.created)
        retry = run_maintenance(maint, NOW + timedelta(days=5))
    assert retry.errors == []
    assert retry.dropped


def activity_rows(rng: np.random.Generator) -> list[ActivityMinute]:
    start = NOW.timestamp() - 3 * 3600
    rows = []
    for device, source in ((DEVICE, "wearable"), ("pir-hall-0001", "pir")):
        for m in range(0, 180, 1):
            if rng.random() < 0.8:
                score = None if source == "pir" else float(rng.random())
                rows.append(ActivityMinute(device, start + 60 * m, source,
                                           int(rng.integers(0, 5)), score))
    return rows


def expected_hourly(rows: list[ActivityMinute]) -> dict[tuple[str, datetime], tuple[Any, ...]]:
    groups: dict[tuple[str, datetime], list[ActivityMinute]] = defaultdict(list)
    for r in rows:
        hour = datetime.fromtimestamp(r.minute - r.minute % 3600, UTC)
        groups[(r.device, hour)].append(r)
    out = {}
    for key, g in groups.items():
        scores = [np.float32(r.score) for r in g if r.score is not None]
        out[key] = (len(g), sum(r.count > 0 for r in g), sum(r.count for r in g),
                    float(np.mean(np.array(scores, dtype=np.float64))) if scores else None,
                    float(max(scores)) if scores else None)
    return out


def hourly_now(conn: psycopg.Connection[Any], device: str) -> dict[tuple[str, datetime], Any]:
    rows = activity_hourly(conn, device, NOW - timedelta(days=1), NOW + timedelta(days=1))
    return {(r.device, r.hour): (r.minutes, r.active_minutes, r.count_sum, r.score_avg,
                                 r.score_max) for r in rows}


def test_hourly_activity_rollup_matches_the_raw_minutes(plain_db: psycopg.Connection[Any]) -> None:
    rows = activity_rows(np.random.default_rng(7))
    copy_activity(plain_db, rows[: len(rows) // 2])
    run_maintenance(plain_db, NOW)
    copy_activity(plain_db, rows[len(rows) // 2 :])
    report = run_maintenance(plain_db, NOW)
    assert report.refreshed["activity_hourly"] > 0
    expected = expected_hourly(rows)
    got = {**hourly_now(plain_db, DEVICE), **hourly_now(plain_db, "pir-hall-0001")}
    assert got.keys() == expected.keys()
    for key, (minutes, active, total, avg, top) in expected.items():
        assert got[key][:3] == (minutes, active, total)
        assert got[key][3] == pytest.approx(avg)
        assert got[key][4] == pytest.approx(top)
    assert run_maintenance(plain_db, NOW).refreshed["activity_hourly"] == 0


def test_rollup_sees_rows_committed_after_a_refresh_began(plain_schema: DbSchema) -> None:
    minute = NOW.timestamp() - 600
    with plain_schema.connect(autocommit=True) as maint, plain_schema.connect() as writer:
        copy_activity(writer, [ActivityMinute(DEVICE, minute, "wearable", 2)])
        writer.commit()
        with writer.transaction():
            copy_activity(writer, [ActivityMinute(DEVICE, minute + 60, "wearable", 5)])
            run_maintenance(maint, NOW)  # runs while the second batch is uncommitted
        assert [h.count_sum for h in activity_hourly(maint, DEVICE, NOW - timedelta(hours=1),
                                                     NOW)] == [2]
        run_maintenance(maint, NOW)
        hours = activity_hourly(maint, DEVICE, NOW - timedelta(hours=1), NOW)
    assert [(h.minutes, h.count_sum) for h in hours] == [(2, 7)]


def test_daily_vitals_rollup_uses_shanghai_days(plain_db: psycopg.Connection[Any]) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    midnight = datetime(2026, 3, 4, tzinfo=shanghai)  # 2026-03-03 16:00 UTC
    times = [midnight - timedelta(minutes=1), midnight, midnight + timedelta(hours=5)]
    readings = [contract.VitalReading(ts=t.timestamp(), hr=hr, spo2=spo2)
                for t, hr, spo2 in zip(times, (70, 80, 91), (95.0, None, 97.5), strict=True)]
    copy_vitals(plain_db, [contract.Vitals(gw="gw-home-1", device=DEVICE, readings=readings)])
    run_maintenance(plain_db, NOW)
    days = vitals_daily(plain_db, DEVICE, midnight - timedelta(days=2), midnight + timedelta(2))
    assert [(d.day, d.readings, d.hr_min, d.hr_max, d.hr_avg, d.spo2_n, d.spo2_avg)
            for d in days] == [
        (midnight - timedelta(days=1), 1, 70, 70, Decimal(70), 1, 95.0),
        (midnight, 2, 80, 91, Decimal("85.5"), 1, 97.5)]


def test_rollup_retention(plain_db: psycopg.Connection[Any]) -> None:
    old = NOW - timedelta(days=40)
    copy_activity(plain_db, [ActivityMinute(DEVICE, old.timestamp(), "wearable", 1),
                             ActivityMinute(DEVICE, NOW.timestamp() - 60, "wearable", 1)])
    run_maintenance(plain_db, NOW)
    assert len(activity_hourly(plain_db, DEVICE, old - timedelta(days=1), NOW)) == 2
    apply_policies(plain_db, StoreConfig(rollup_retention=timedelta(days=30)))
    report = run_maintenance(plain_db, NOW)
    assert report.expired["activity_hourly"] == 1
    assert len(activity_hourly(plain_db, DEVICE, old - timedelta(days=1), NOW)) == 1


def test_two_processes_may_run_maintenance_at_once(plain_schema: DbSchema) -> None:
    rows = activity_rows(np.random.default_rng(3))
    with plain_schema.connect(autocommit=True) as conn:
        copy_activity(conn, rows)
    barrier = threading.Barrier(2)
    reports: list[Any] = []

    def run() -> None:
        with plain_schema.connect(autocommit=True) as conn:
            barrier.wait()
            reports.append(run_maintenance(conn, NOW))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.errors for r in reports] == [[], []]
    created = reports[0].created + reports[1].created
    assert len(created) == len(set(created)) == 7 + 3 * 3
    with plain_schema.connect() as conn:
        got = {**hourly_now(conn, DEVICE), **hourly_now(conn, "pir-hall-0001")}
    expected = expected_hourly(rows)
    assert {k: v[:3] for k, v in got.items()} == {k: v[:3] for k, v in expected.items()}


def test_prepare_migrates_configures_and_maintains(database_url: str) -> None:
    name = "t_prepare_" + secrets.token_hex(4)
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(schema_conninfo(database_url, name), autocommit=True) as conn:
            first = prepare(conn, StoreConfig(acc_partitions_ahead=2), BackendChoice.PLAIN)
            again = prepare(conn, StoreConfig(acc_partitions_ahead=2), BackendChoice.PLAIN)
            ahead = conn.execute("SELECT ahead FROM partition_policies"
                                 " WHERE table_name = 'acc_blocks'").fetchone()
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
    assert first.applied
    assert again.applied == []
    assert ahead == (2,)
    assert len([p for p in first.maintenance.created if p.startswith("acc_blocks")]) == 3
    assert first.maintenance.errors == []


def test_a_minute_recounted_upwards_refreshes_its_hour(plain_db: psycopg.Connection[Any]) -> None:
    minute = NOW.timestamp() - 600
    copy_activity(plain_db, [ActivityMinute(DEVICE, minute, "pir", 2)])
    run_maintenance(plain_db, NOW)
    copy_activity(plain_db, [ActivityMinute(DEVICE, minute, "pir", 5)])  # late events counted
    run_maintenance(plain_db, NOW)
    hours = activity_hourly(plain_db, DEVICE, NOW - timedelta(hours=2), NOW + timedelta(hours=1))
    assert [h.count_sum for h in hours] == [5]
