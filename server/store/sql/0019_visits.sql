-- 0019 visits (探访): the visitor role, a home's grid (网格), visit tasks planned each month
-- from the care rules (and second attempts and follow-ups), and the visits recorded at the door.

-- Visitors: grid workers, volunteers, property staff, community health workers. They sign in
-- on a phone and see their visit tasks only (server.api.deps keeps them off everything else).
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('operator', 'supervisor', 'technician', 'admin', 'auditor', 'visitor'));

-- The grid (网格) of a home within its community: how visits are organised ("knock on the
-- door" by grid). Empty: the community as a whole.
ALTER TABLE homes ADD COLUMN grid text NOT NULL DEFAULT '';

CREATE TABLE visit_tasks (
    id           bigserial PRIMARY KEY,
    resident_id  bigint NOT NULL REFERENCES residents (id),
    -- plan: from the care rules, for the month; second_attempt: after "not at home";
    -- follow_up: a visit's finding that needs someone to act; manual: added by a supervisor
    kind         text NOT NULL CHECK (kind IN ('plan', 'second_attempt', 'follow_up', 'manual')),
    month        date NOT NULL CHECK (extract(day FROM month) = 1),  -- the month it counts for
    due_on       date NOT NULL,
    priority     smallint NOT NULL DEFAULT 3 CHECK (priority BETWEEN 1 AND 3),
    reason       text NOT NULL DEFAULT '',
    note         text NOT NULL DEFAULT '',
    assignee_id  bigint REFERENCES users (id),
    status       text NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'done', 'not_home', 'cancelled')),
    parent_id    bigint REFERENCES visit_tasks (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    closed_at    timestamptz
);
-- a resident's monthly plan is made once per due day, however often the plan job runs
CREATE UNIQUE INDEX visit_tasks_plan_once ON visit_tasks (resident_id, due_on) WHERE kind = 'plan';
CREATE INDEX visit_tasks_open ON visit_tasks (due_on) WHERE status = 'open';
CREATE INDEX visit_tasks_resident ON visit_tasks (resident_id, month);

CREATE TABLE visits (
    id              bigserial PRIMARY KEY,
    task_id         bigint REFERENCES visit_tasks (id),
    resident_id     bigint NOT NULL REFERENCES residents (id),
    visitor_id      bigint REFERENCES users (id),
    visitor         text NOT NULL,
    visitor_kind    text NOT NULL CHECK (visitor_kind IN
        ('grid_worker', 'volunteer', 'property', 'health_worker', 'social_org', 'staff')),
    arrived_at      timestamptz NOT NULL,
    at_home         boolean NOT NULL,
    met             text NOT NULL DEFAULT '',  -- who was met (the elder, a carer, a neighbour)
    health          text NOT NULL DEFAULT '',
    living          text NOT NULL DEFAULT '',
    mood            text NOT NULL DEFAULT '',
    safety          text NOT NULL DEFAULT '',
    needs           text NOT NULL DEFAULT '',
    follow_up       text,  -- server.visits.model.FollowUp; NULL: none
    follow_up_note  text NOT NULL DEFAULT '',
    photo_url       text,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX visits_resident ON visits (resident_id, arrived_at DESC);
CREATE INDEX visits_month ON visits (arrived_at);
