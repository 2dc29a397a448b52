-- 0002 time series on plain PostgreSQL: native range partitioning by time.
-- Partitions are created ahead and dropped for retention by server.store.maintenance, which
-- reads partition_policies. A DEFAULT partition catches rows no partition covers yet, so a
-- write never fails; maintenance moves them into their partition once it exists.
-- The column lists are identical in 0002_timeseries.timescale.sql (a test compares them).

CREATE TABLE acc_blocks (
    device      text NOT NULL,
    t0          timestamptz NOT NULL,
    seq         bigint NOT NULL,
    rate_hz     real NOT NULL,
    scale_g     real NOT NULL,
    n           smallint NOT NULL,
    samples     bytea NOT NULL,
    received_at timestamptz NOT NULL,
    CONSTRAINT acc_blocks_samples_size CHECK (octet_length(samples) = 6 * n)
) PARTITION BY RANGE (t0);
CREATE INDEX acc_blocks_device_t0 ON acc_blocks (device, t0);

CREATE TABLE vitals (
    device      text NOT NULL,
    ts          timestamptz NOT NULL,
    hr          smallint,
    contact     boolean,
    rr_ms       real[],
    spo2        real,
    pulse       real,
    PRIMARY KEY (device, ts)
) PARTITION BY RANGE (ts);

CREATE TABLE activity_minute (
    device      text NOT NULL,
    minute      timestamptz NOT NULL,
    source      text NOT NULL CHECK (source IN ('wearable', 'pir', 'door')),
    count       integer NOT NULL CHECK (count >= 0),
    score       real,
    PRIMARY KEY (device, minute)
) PARTITION BY RANGE (minute);

CREATE TABLE device_health (
    ts          timestamptz NOT NULL,
    gateway_id  text NOT NULL,
    device      text NOT NULL,
    rssi        smallint,
    battery_mv  integer,
    battery_pct smallint,
    PRIMARY KEY (device, ts, gateway_id)
) PARTITION BY RANGE (ts);

CREATE TABLE acc_blocks_default PARTITION OF acc_blocks DEFAULT;
CREATE TABLE vitals_default PARTITION OF vitals DEFAULT;
CREATE TABLE activity_minute_default PARTITION OF activity_minute DEFAULT;
CREATE TABLE device_health_default PARTITION OF device_health DEFAULT;

-- What maintenance does per partitioned table: partition width (aligned on the epoch
-- 2000-01-03 00:00 UTC, like TimescaleDB chunks), how long rows are kept, how many partitions
-- to keep ready ahead of now. retain and ahead are set from StoreConfig at start-up.
CREATE TABLE partition_policies (
    table_name  text PRIMARY KEY,
    time_column text NOT NULL,
    step        interval NOT NULL CHECK (step > interval '0'),
    retain      interval CHECK (retain > interval '0'),
    ahead       integer NOT NULL DEFAULT 2 CHECK (ahead >= 0)
);
INSERT INTO partition_policies (table_name, time_column, step, retain, ahead) VALUES
    ('acc_blocks', 't0', interval '1 hour', interval '72 hours', 6),
    ('vitals', 'ts', interval '7 days', interval '400 days', 2),
    ('activity_minute', 'minute', interval '7 days', interval '400 days', 2),
    ('device_health', 'ts', interval '7 days', interval '400 days', 2);
