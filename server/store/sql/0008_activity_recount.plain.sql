-- 0008 a minute's count can rise after it was stored (recounted as late events of that minute
-- arrive, server.store.copy_activity): an update invalidates its hour in the rollup as an
-- insert does.
CREATE TRIGGER activity_minute_invalidate_update AFTER UPDATE ON activity_minute
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION activity_minute_invalidate();
