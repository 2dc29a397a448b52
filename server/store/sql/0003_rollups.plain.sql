-- 0003 rollups on plain PostgreSQL: tables with the same names, columns and values as the
-- TimescaleDB continuous aggregates of 0003_rollups.timescale.sql, so the same SELECTs work.
-- Inserts into the source tables log the (device, bucket) keys they touch; maintenance
-- (server.store.rollups) recomputes exactly those keys. The log has no unique key on purpose:
-- a key logged by a transaction still open when maintenance claims the log stays for the next
-- run, so no late row is ever missed.

CREATE TABLE activity_hourly (
    device          text NOT NULL,
    source          text NOT NULL,
    hour            timestamptz NOT NULL,
    minutes         bigint NOT NULL,
    active_minutes  bigint NOT NULL,
    count_sum       bigint NOT NULL,
    score_avg       double precision,
    score_max       real,
    PRIMARY KEY (device, hour, source)
);
CREATE INDEX activity_hourly_hour ON activity_hourly (hour);

CREATE TABLE vitals_daily (
    device      text NOT NULL,
    day         timestamptz NOT NULL,
    readings    bigint NOT NULL,
    hr_n        bigint NOT NULL,
    hr_min      smallint,
    hr_max      smallint,
    hr_avg      numeric,
    spo2_n      bigint NOT NULL,
    spo2_min    real,
    spo2_avg    double precision,
    PRIMARY KEY (device, day)
);
CREATE INDEX vitals_daily_day ON vitals_daily (day);

-- How long maintenance keeps rollup rows (NULL: forever); set from StoreConfig at start-up.
CREATE TABLE rollup_policies (
    rollup      text PRIMARY KEY,
    bucket      text NOT NULL,
    retain      interval CHECK (retain > interval '0')
);
INSERT INTO rollup_policies (rollup, bucket) VALUES ('activity_hourly', 'hour'), ('vitals_daily', 'day');

CREATE TABLE rollup_invalidations (
    rollup      text NOT NULL,
    device      text NOT NULL,
    bucket      timestamptz NOT NULL
);

CREATE FUNCTION activity_minute_invalidate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup_invalidations (rollup, device, bucket)
    SELECT DISTINCT 'activity_hourly', device, date_trunc('hour', minute, 'UTC') FROM new_rows;
    RETURN NULL;
END $$;
ALTER FUNCTION activity_minute_invalidate() SET search_path FROM CURRENT;
CREATE TRIGGER activity_minute_invalidate AFTER INSERT ON activity_minute
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION activity_minute_invalidate();

CREATE FUNCTION vitals_invalidate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup_invalidations (rollup, device, bucket)
    SELECT DISTINCT 'vitals_daily', device, date_trunc('day', ts, 'Asia/Shanghai') FROM new_rows;
    RETURN NULL;
END $$;
ALTER FUNCTION vitals_invalidate() SET search_path FROM CURRENT;
CREATE TRIGGER vitals_invalidate AFTER INSERT ON vitals
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION vitals_invalidate();
