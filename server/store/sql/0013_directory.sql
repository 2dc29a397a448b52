-- 0013 the directory, edited: districts above streets, homes and contacts that can be
-- deactivated, residents' status (away / in hospital / moved / deceased), allergies,
-- per-resident inactivity windows, a search key computed on write, and the audit of every
-- change (who, when, field by field before → after).

-- A district (区) above its streets: a home's community / street / district is its region and
-- the region's ancestors. A street may stay without a district.
ALTER TABLE regions DROP CONSTRAINT regions_level_check;
ALTER TABLE regions ADD CONSTRAINT regions_level_check CHECK (level IN ('区', '街道', '社区'));
ALTER TABLE regions ADD CONSTRAINT regions_district_is_top CHECK (level <> '区' OR parent_id IS NULL);

-- homes.notes are the access notes (入户须知: stairs, dog, which door).
ALTER TABLE homes ADD COLUMN active boolean NOT NULL DEFAULT true;
ALTER TABLE homes ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- The care-tag vocabulary lives in one place, server/directory/care_tags.py (the service
-- validates every write against it); a copy here would have to change in step with it.
ALTER TABLE residents DROP CONSTRAINT residents_care_tags_allowed;
ALTER TABLE residents ADD COLUMN allergies text[] NOT NULL DEFAULT '{}';
-- active | away (until away_until) | in_hospital (until away_until, or open) | moved | deceased.
-- away and in_hospital pause inactivity alarms from status_since to away_until; moved and
-- deceased residents are no longer watched (their rows stay: never deleted here).
ALTER TABLE residents ADD COLUMN status text NOT NULL DEFAULT 'active'
    CONSTRAINT residents_status_known
    CHECK (status IN ('active', 'away', 'in_hospital', 'moved', 'deceased'));
ALTER TABLE residents ADD COLUMN status_since timestamptz NOT NULL DEFAULT now();
ALTER TABLE residents ADD COLUMN status_note text NOT NULL DEFAULT '';
-- away_until alone (0006) meant away until then: such residents are away from now on.
UPDATE residents SET status = 'away' WHERE away_until > now();
ALTER TABLE residents ADD CONSTRAINT residents_away_has_an_end
    CHECK (status <> 'away' OR away_until IS NOT NULL);
-- Per-resident overrides of the inactivity rules (analytics.inactivity.RuleSettings names).
ALTER TABLE residents ADD COLUMN inactivity_rules jsonb NOT NULL DEFAULT '{}';
-- What the resident search matches exactly (server/directory/search.py computes it on every
-- write: name, its substrings, pinyin and initials, phone numbers); one GIN lookup.
ALTER TABLE residents ADD COLUMN search_terms text[] NOT NULL DEFAULT '{}';
ALTER TABLE residents ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX residents_search ON residents USING gin (search_terms);
CREATE INDEX residents_status ON residents (status) WHERE status <> 'active';

-- Contacts: several phone numbers (the first is the one to try first), when they can be
-- reached, whether they hold a key; deactivated ones leave the call list (call_order NULL)
-- and stay for the history.
ALTER TABLE contacts ADD COLUMN phones text[];
UPDATE contacts SET phones = ARRAY[phone];
ALTER TABLE contacts ALTER COLUMN phones SET NOT NULL;
ALTER TABLE contacts ADD CONSTRAINT contacts_phones_present
    CHECK (cardinality(phones) BETWEEN 1 AND 5 AND array_position(phones, '') IS NULL
           AND array_position(phones, NULL) IS NULL);
ALTER TABLE contacts DROP COLUMN phone;
ALTER TABLE contacts ADD COLUMN phone text GENERATED ALWAYS AS (phones[1]) STORED;
ALTER TABLE contacts ADD COLUMN availability text NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN has_key boolean NOT NULL DEFAULT false;
ALTER TABLE contacts ADD COLUMN active boolean NOT NULL DEFAULT true;
ALTER TABLE contacts ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE contacts ALTER COLUMN call_order DROP NOT NULL;
ALTER TABLE contacts ALTER COLUMN call_order DROP DEFAULT;
ALTER TABLE contacts ADD CONSTRAINT contacts_active_in_order
    CHECK (active = (call_order IS NOT NULL));
CREATE INDEX contacts_resident ON contacts (resident_id);

-- Every change of the directory: who, when, what (entity and id), the residents whose
-- history shows it, and field by field [before, after] (secrets as "changed", never the value).
CREATE TABLE directory_audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_id    bigint REFERENCES users (id) ON DELETE SET NULL,
    actor       text NOT NULL,
    entity      text NOT NULL CHECK (entity IN ('home', 'resident', 'contact')),
    entity_id   bigint NOT NULL,
    action      text NOT NULL,
    home_id     bigint,
    residents   bigint[] NOT NULL DEFAULT '{}',
    changes     jsonb NOT NULL DEFAULT '{}',
    note        text NOT NULL DEFAULT ''
);
CREATE INDEX directory_audit_residents ON directory_audit USING gin (residents);
CREATE INDEX directory_audit_entity ON directory_audit (entity, entity_id, id);
