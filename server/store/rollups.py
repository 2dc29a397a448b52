"""Plain PostgreSQL: refresh the rollup tables from the keys logged by the insert triggers.

Each refresh is one statement: it claims the invalidation rows its snapshot sees, recomputes
those (device, bucket) keys from the raw table and upserts them. Keys logged by transactions
that commit later stay in the log for the next run. The expressions are those of the
TimescaleDB continuous aggregates (0003_rollups.timescale.sql), so both give the same rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

_ACTIVITY = """
WITH claimed AS (
    DELETE FROM rollup_invalidations WHERE rollup = 'activity_hourly' RETURNING device, bucket
), keys AS (SELECT DISTINCT device, bucket FROM claimed)
INSERT INTO activity_hourly AS h
    (device, source, hour, minutes, active_minutes, count_sum, score_avg, score_max)
SELECT a.device, a.source, k.bucket,
       count(*), sum(CASE WHEN a.count > 0 THEN 1 ELSE 0 END), sum(a.count),
       avg(a.score), max(a.score)
FROM keys k
JOIN activity_minute a
  ON a.device = k.device AND a.minute >= k.bucket AND a.minute < k.bucket + interval '1 hour'
GROUP BY a.device, a.source, k.bucket
ON CONFLICT (device, hour, source) DO UPDATE SET
    minutes = excluded.minutes, active_minutes = excluded.active_minutes,
    count_sum = excluded.count_sum, score_avg = excluded.score_avg,
    score_max = excluded.score_max
"""

_VITALS = """
WITH claimed AS (
    DELETE FROM rollup_invalidations WHERE rollup = 'vitals_daily' RETURNING device, bucket
), keys AS (SELECT DISTINCT device, bucket FROM claimed)
INSERT INTO vitals_daily AS d
    (device, day, readings, hr_n, hr_min, hr_max, hr_avg, spo2_n, spo2_min, spo2_avg)
SELECT v.device, k.bucket,
       count(*), count(v.hr), min(v.hr), max(v.hr), avg(v.hr),
       count(v.spo2), min(v.spo2), avg(v.spo2)
FROM keys k
JOIN vitals v
  ON v.device = k.device AND v.ts >= k.bucket
 AND v.ts < ((k.bucket AT TIME ZONE 'Asia/Shanghai') + interval '1 day')
              AT TIME ZONE 'Asia/Shanghai'
GROUP BY v.device, k.bucket
ON CONFLICT (device, day) DO UPDATE SET
    readings = excluded.readings, hr_n = excluded.hr_n, hr_min = excluded.hr_min,
    hr_max = excluded.hr_max, hr_avg = excluded.hr_avg, spo2_n = excluded.spo2_n,
    spo2_min = excluded.spo2_min, spo2_avg = excluded.spo2_avg
"""

_REFRESH = {"activity_hourly": _ACTIVITY, "vitals_daily": _VITALS}


def refresh_rollup(conn: psycopg.Connection[Any], rollup: str) -> int:
    """Recompute the logged keys of one rollup; the number of rollup rows written."""
    return conn.execute(_REFRESH[rollup]).rowcount


def expire_rollup(conn: psycopg.Connection[Any], rollup: str, now: datetime) -> int:
    """Delete rollup rows older than the rollup's retention (none when it is NULL)."""
    row = conn.execute("SELECT bucket, retain FROM rollup_policies WHERE rollup = %s",
                       (rollup,)).fetchone()
    if row is None or row[1] is None:
        return 0
    column, retain = row
    return conn.execute(
        sql.SQL("DELETE FROM {} WHERE {} < %s").format(
            sql.Identifier(rollup), sql.Identifier(column)),
        (now - retain,),
    ).rowcount
