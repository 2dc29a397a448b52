-- 0018 care rules: the table (edited by admins) that turns a resident's care tags into a visit
-- frequency, a care-call frequency and whether their P2 alarms are raised to P1.
--
-- A rule applies to a resident who carries every tag of ``tags`` (高龄 also counts from a birth
-- date 80 or more years ago). Over the rules that apply: the shortest visit and call intervals
-- win, and any rule that raises the priority raises it. Intervals in days; 30 is "once a
-- calendar month" (the monthly visit rate counts visits per month), 7 weekly. NULL: no plan
-- from this rule.
CREATE TABLE care_rules (
    id                bigserial PRIMARY KEY,
    tags              text[] NOT NULL CONSTRAINT care_rules_tags_present
        CHECK (cardinality(tags) BETWEEN 1 AND 4 AND array_position(tags, NULL) IS NULL),
    visit_every_days  integer CONSTRAINT care_rules_visit_range
        CHECK (visit_every_days BETWEEN 1 AND 366),
    call_every_days   integer CONSTRAINT care_rules_call_range
        CHECK (call_every_days BETWEEN 1 AND 366),
    raise_priority    boolean NOT NULL DEFAULT false,
    note              text NOT NULL DEFAULT '',
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT care_rules_one_per_tag_set UNIQUE (tags)
);

-- The defaults: the special-hardship elders of the visiting policy (空巢, 留守, 失能, 重残,
-- 计划生育特殊家庭) are visited every month; those living alone or very old are called
-- regularly; the priority raises are the ones the alert engine applied before this table
-- (失能; 高龄 with 独居) and 失智 (may not be able to answer a call-back).
INSERT INTO care_rules (tags, visit_every_days, call_every_days, raise_priority, note) VALUES
    ('{失能}', 30, 7, true, '特困失能：每月探访，每周电话，报警升级'),
    ('{高龄,独居}', 30, 7, true, '高龄独居：每月探访，每周电话，报警升级'),
    ('{失智}', 14, 7, true, '失智：两周探访一次，每周电话，报警升级'),
    ('{空巢}', 30, 14, false, '空巢：每月探访'),
    ('{留守}', 30, 14, false, '留守：每月探访'),
    ('{重残}', 30, 7, false, '重残：每月探访，每周电话'),
    ('{计划生育特殊家庭}', 30, 14, false, '计划生育特殊家庭：每月探访'),
    ('{独居}', NULL, 7, false, '独居：每周电话'),
    ('{高龄}', NULL, 14, false, '高龄：两周电话一次'),
    ('{经济困难}', 90, 30, false, '经济困难/低保：每季度探访，每月电话'),
    ('{优抚对象}', 90, 30, false, '优抚对象：每季度探访，每月电话');

-- A change of a rule is in the directory's audit trail like a change of a resident.
ALTER TABLE directory_audit DROP CONSTRAINT directory_audit_entity_check;
ALTER TABLE directory_audit ADD CONSTRAINT directory_audit_entity_check
    CHECK (entity IN ('home', 'resident', 'contact', 'care_rule'));
