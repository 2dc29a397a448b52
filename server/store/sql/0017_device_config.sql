-- 0017 the server's device list is the source of truth: each change is a new config revision
-- per gateway (published retained on down/config; gateways.config_rev is the revision the
-- gateway reports applied), devices unpaired or replaced keep their rows (history), and a
-- technician's pairing window per gateway.
ALTER TABLE gateways ADD COLUMN desired_rev integer NOT NULL DEFAULT 0 CHECK (desired_rev >= 0);
ALTER TABLE gateways ADD COLUMN published_rev integer NOT NULL DEFAULT 0;
ALTER TABLE gateways ADD COLUMN pairing_opened_at timestamptz;
ALTER TABLE gateways ADD COLUMN pairing_until timestamptz;

-- An unpaired device stays (its events, its place); a replaced one names its successor.
ALTER TABLE devices ADD COLUMN unpaired_at timestamptz;
ALTER TABLE devices ADD COLUMN replaced_by text;
CREATE INDEX devices_gateway_paired ON devices (gateway_id) WHERE unpaired_at IS NULL;

-- Who changed a gateway's devices, when, to which revision.
CREATE TABLE device_changes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gateway_id  text NOT NULL,      -- no FK: the record outlives the gateway
    device      text NOT NULL,
    action      text NOT NULL CHECK (action IN ('pair', 'unpair', 'relabel', 'replace')),
    rev         integer NOT NULL,
    actor       text NOT NULL,
    ts          timestamptz NOT NULL DEFAULT now(),
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX device_changes_gateway ON device_changes (gateway_id, ts);
