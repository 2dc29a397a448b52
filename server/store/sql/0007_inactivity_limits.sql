-- 0007 per-resident inactivity limits learned from each resident's own history
-- (analytics.inactivity.fit_learned): minutes of inactivity allowed in each hour of the week,
-- local time, Monday 00:00 = 0. Refitted daily by the server (INACTIVITY_LEARN_EVERY).
CREATE TABLE inactivity_limits (
    resident_id bigint PRIMARY KEY REFERENCES residents (id) ON DELETE CASCADE,
    limit_min   integer[] NOT NULL CHECK (cardinality(limit_min) = 168),
    days_seen   integer NOT NULL CHECK (days_seen >= 0),
    fitted_at   timestamptz NOT NULL DEFAULT now()
);
