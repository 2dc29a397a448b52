-- 0006 what the detector worker needs.
-- New accelerometer blocks are found by arrival time: a BRIN index costs almost nothing to keep
-- on append-mostly rows (t0 prunes partitions, received_at narrows inside them).
CREATE INDEX acc_blocks_received ON acc_blocks USING brin (received_at);
-- Per-resident vital-sign limit overrides (analytics.vitals.VitalLimits field names), and the
-- away / holiday mode that suspends inactivity alarms.
ALTER TABLE residents ADD COLUMN vital_limits jsonb NOT NULL DEFAULT '{}';
ALTER TABLE residents ADD COLUMN away_until timestamptz;
