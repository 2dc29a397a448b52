-- 0009 event identity. A gateway's state has a random incarnation (made with its outbox, never
-- changed), so event ids are '<gateway>:<incarnation>:<n>': a gateway whose state is new starts
-- again at n = 1 without repeating an id the server holds. Rows from before keep their legacy
-- ids '<gateway>:<n>' (incarnation ''), and legacy gateways may still send such ids.
-- A repeated id with different content is a conflict: the newcomer is stored too, under
-- '<id>~<variant>' (variant: a hash of its content, so its redelivery is a duplicate).
ALTER TABLE events ADD COLUMN incarnation text NOT NULL DEFAULT ''
    CONSTRAINT events_incarnation_format CHECK (incarnation ~ '^([a-z0-9]{8,16})?$');
ALTER TABLE events ADD COLUMN variant text
    CONSTRAINT events_variant_format CHECK (variant ~ '^[0-9a-f]{12}$');
COMMENT ON COLUMN events.incarnation IS
    'The sending gateway state''s incarnation; '''' for legacy and server-made events.';
COMMENT ON COLUMN events.variant IS
    'Set on an event that arrived under an id already stored with other content (a conflict).';

ALTER TABLE events DROP CONSTRAINT events_id_matches;
ALTER TABLE events ADD CONSTRAINT events_id_matches CHECK (
    source = 'server'
    OR id = gateway_id || ':' || CASE WHEN incarnation = '' THEN '' ELSE incarnation || ':' END
            || n || coalesce('~' || variant, ''));

DROP INDEX events_gateway_n;
CREATE INDEX events_gateway_incarnation_n ON events (gateway_id, incarnation, n);

-- The incarnation a gateway sends events from, and its first event's time (gateway clock): a
-- change is a reset of its state (logged).
ALTER TABLE gateways ADD COLUMN incarnation text;
ALTER TABLE gateways ADD COLUMN incarnation_since timestamptz;
