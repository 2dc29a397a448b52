-- 0002 time series on TimescaleDB: hypertables with compression enabled.
-- Retention and compression ages are policies set from StoreConfig at start-up
-- (server.store.timescale.apply_timescale_policies). The column lists are identical in
-- 0002_timeseries.plain.sql (a test compares them).

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
);
SELECT create_hypertable('acc_blocks', 't0', chunk_time_interval => interval '1 hour',
                         create_default_indexes => false);
CREATE INDEX acc_blocks_device_t0 ON acc_blocks (device, t0);
ALTER TABLE acc_blocks SET (timescaledb.compress, timescaledb.compress_segmentby = 'device',
                            timescaledb.compress_orderby = 't0');

CREATE TABLE vitals (
    device      text NOT NULL,
    ts          timestamptz NOT NULL,
    hr          smallint,
    contact     boolean,
    rr_ms       real[],
    spo2        real,
    pulse       real,
    PRIMARY KEY (device, ts)
);
SELECT create_hypertable('vitals', 'ts', chunk_time_interval => interval '7 days',
                         create_default_indexes => false);
ALTER TABLE vitals SET (timescaledb.compress, timescaledb.compress_segmentby = 'device',
                        timescaledb.compress_orderby = 'ts');

CREATE TABLE activity_minute (
    device      text NOT NULL,
    minute      timestamptz NOT NULL,
    source      text NOT NULL CHECK (source IN ('wearable', 'pir', 'door')),
    count       integer NOT NULL CHECK (count >= 0),
    score       real,
    PRIMARY KEY (device, minute)
);
SELECT create_hypertable('activity_minute', 'minute', chunk_time_interval => interval '7 days',
                         create_default_indexes => false);
ALTER TABLE activity_minute SET (timescaledb.compress, timescaledb.compress_segmentby = 'device',
                                 timescaledb.compress_orderby = 'minute');

CREATE TABLE device_health (
    ts          timestamptz NOT NULL,
    gateway_id  text NOT NULL,
    device      text NOT NULL,
    rssi        smallint,
    battery_mv  integer,
    battery_pct smallint,
    PRIMARY KEY (device, ts, gateway_id)
);
SELECT create_hypertable('device_health', 'ts', chunk_time_interval => interval '7 days',
                         create_default_indexes => false);
ALTER TABLE device_health SET (timescaledb.compress,
                               timescaledb.compress_segmentby = 'device, gateway_id',
                               timescaledb.compress_orderby = 'ts');
