-- 0003 rollups on TimescaleDB: continuous aggregates with the same names, columns and values
-- as the plain tables of 0003_rollups.plain.sql. Refresh policies are set at start-up.
-- materialized_only: both backends show what has been materialized, nothing computed at read.

CREATE MATERIALIZED VIEW activity_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT device,
       source,
       time_bucket(interval '1 hour', minute) AS hour,
       count(*) AS minutes,
       sum(CASE WHEN count > 0 THEN 1 ELSE 0 END) AS active_minutes,
       sum(count) AS count_sum,
       avg(score) AS score_avg,
       max(score) AS score_max
FROM activity_minute
GROUP BY device, source, time_bucket(interval '1 hour', minute)
WITH NO DATA;

CREATE MATERIALIZED VIEW vitals_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT device,
       time_bucket(interval '1 day', ts, 'Asia/Shanghai') AS day,
       count(*) AS readings,
       count(hr) AS hr_n,
       min(hr) AS hr_min,
       max(hr) AS hr_max,
       avg(hr) AS hr_avg,
       count(spo2) AS spo2_n,
       min(spo2) AS spo2_min,
       avg(spo2) AS spo2_avg
FROM vitals
GROUP BY device, time_bucket(interval '1 day', ts, 'Asia/Shanghai')
WITH NO DATA;
