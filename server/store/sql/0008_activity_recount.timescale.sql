-- 0008 nothing to add on TimescaleDB: continuous aggregates see updated rows through their own
-- invalidation log (the plain backend needs a trigger, see 0008_activity_recount.plain.sql).
SELECT 1;
