-- Events the server itself raises (device supervision): source 'server', id 'srv:<n>'.
ALTER TABLE events ADD COLUMN source text NOT NULL DEFAULT 'gateway'
    CHECK (source IN ('gateway', 'server'));
ALTER TABLE events DROP CONSTRAINT events_id_matches;
ALTER TABLE events ADD CONSTRAINT events_id_matches
    CHECK (source = 'server' OR id = gateway_id || ':' || n);
CREATE SEQUENCE server_event_n;

-- When a device was last reported silent (supervision); cleared by being heard again.
ALTER TABLE devices ADD COLUMN silent_since timestamptz;
