-- 0020 主动关爱 care calls: calls due to residents (from the care rules, a week of daily calls
-- after a hospital stay, campaigns for a community or a care tag), and the calls made.

CREATE TABLE care_call_campaigns (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    reason      text NOT NULL CHECK (reason IN ('heat', 'cold', 'holiday', 'epidemic', 'other')),
    region_id   bigint REFERENCES regions (id),  -- NULL: the creator's regions
    tags        text[] NOT NULL DEFAULT '{}',  -- residents with every one of them; {}: everyone
    due_on      date NOT NULL,
    created_by  bigint REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    residents   integer NOT NULL DEFAULT 0
);

CREATE TABLE care_call_tasks (
    id           bigserial PRIMARY KEY,
    resident_id  bigint NOT NULL REFERENCES residents (id),
    -- schedule: the care rules; after_hospital: daily for a week after coming home;
    -- campaign: by hand for a community or tag; retry: no answer, try again; next: asked for
    kind         text NOT NULL CHECK (kind IN ('schedule', 'after_hospital', 'campaign', 'retry',
                                                'next')),
    campaign_id  bigint REFERENCES care_call_campaigns (id),
    due_on       date NOT NULL,
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    closed_at    timestamptz
);
-- one open call task per resident and kind, and one per resident and campaign
CREATE UNIQUE INDEX care_call_tasks_one_open ON care_call_tasks (resident_id, kind)
    WHERE status = 'open' AND kind <> 'campaign';
CREATE UNIQUE INDEX care_call_tasks_campaign_once ON care_call_tasks (resident_id, campaign_id)
    WHERE campaign_id IS NOT NULL;
CREATE INDEX care_call_tasks_open ON care_call_tasks (due_on) WHERE status = 'open';

CREATE TABLE care_calls (
    id           bigserial PRIMARY KEY,
    task_id      bigint REFERENCES care_call_tasks (id),
    resident_id  bigint NOT NULL REFERENCES residents (id),
    caller_id    bigint REFERENCES users (id),
    caller       text NOT NULL,
    called_at    timestamptz NOT NULL DEFAULT now(),
    outcome      text NOT NULL CHECK (outcome IN ('well', 'concern', 'no_answer')),
    notes        text NOT NULL DEFAULT '',
    concern      text NOT NULL DEFAULT '',
    next_on      date  -- the next call the caller asked for
);
CREATE INDEX care_calls_resident ON care_calls (resident_id, called_at DESC);
CREATE INDEX care_calls_month ON care_calls (called_at);
