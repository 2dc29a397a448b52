"""Inactivity over the last 24 h of per-minute activity, every resident at once.

Activity of a resident = their wearables' counts, plus PIR / door events and button presses in
their home. Residents behind an offline gateway are skipped (the gateway-offline alert covers
them), and so are residents who moved or died; a resident away or in hospital
(``residents.status``, from ``status_since`` to ``away_until``, open-ended for a hospital stay
without an end) has those minutes suspended: no count, no alarm, and the count starts afresh
when they are back. Two detectors run: the rules operators understand
(:class:`InactivityRules`, with each resident's own windows where a supervisor set them:
``residents.inactivity_rules``, :class:`RuleSettings` names), and for residents with at least
``MIN_DAYS`` days of history, limits learned from that history per hour of the week
(``inactivity_limits``, refitted daily by :func:`fit_limits`). Alarms become P2 alerts (raised
to P1 by care tags; ``details.prewarned`` when the resident was asked first and did not answer);
pre-warnings go to the home's gateway as a ``prewarn`` command: the gateway asks the resident,
whose press answers it (the press is activity, so the alarm does not follow).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import psycopg

from analytics.inactivity import (
    InactivityEvent,
    InactivityRules,
    LearnedLimits,
    Minutes,
    Outcome,
    RuleSettings,
    evaluate_learned,
    evaluate_rules,
    fit_learned,
)
from server.alerts import service
from server.alerts.context import resident_context
from server.alerts.model import AlertType, Priority
from server.detect.prompts import Prewarning

log = logging.getLogger(__name__)

UTC_OFFSET_MIN = 8 * 60  # the rules' hours are local (China Standard Time)
DAY_MIN = 24 * 60
LEARN_DAYS = 28  # history a fit looks at
MIN_DAYS = 14  # days with data before a resident's learned limits are used
FIT_BATCH = 50  # residents per fit: 28 days of minutes is ~0.7 MB a resident

_RESIDENTS = """
SELECT r.id, r.home_id, g.id,
       CASE WHEN r.status IN ('away', 'in_hospital')
            THEN floor(extract(epoch FROM r.status_since) / 60)::int8 END,
       CASE WHEN r.status IN ('away', 'in_hospital')
            THEN ceil(extract(epoch FROM r.away_until) / 60)::int8 END
FROM residents r JOIN gateways g ON g.home_id = r.home_id
WHERE g.state = 'online' AND r.status NOT IN ('moved', 'deceased')
  AND (%(only)s::int8[] IS NULL OR r.id = ANY(%(only)s)) ORDER BY r.id
"""
_OWN_RULES = """
SELECT id, inactivity_rules FROM residents WHERE id = ANY(%s) AND inactivity_rules <> '{}'
"""
_WEAR = """
SELECT d.resident_id, floor(extract(epoch FROM a.minute) / 60)::int8, max(a.score)
FROM activity_minute a JOIN devices d ON d.uid = a.device
WHERE a.source = 'wearable' AND a.minute >= to_timestamp(%(start)s * 60)
  AND d.resident_id = ANY(%(residents)s) GROUP BY 1, 2
"""
_SENSORS = """
SELECT g.home_id, floor(extract(epoch FROM a.minute) / 60)::int8, sum(a.count)::int8
FROM activity_minute a JOIN devices d ON d.uid = a.device JOIN gateways g ON g.id = d.gateway_id
WHERE a.source IN ('pir', 'door') AND a.minute >= to_timestamp(%(start)s * 60)
  AND g.home_id = ANY(%(homes)s) GROUP BY 1, 2
"""
_BUTTONS = """
SELECT g.home_id, floor(extract(epoch FROM e.ts) / 60)::int8, count(*)::int8
FROM events e JOIN gateways g ON g.id = e.gateway_id
WHERE e.type IN ('press', 'long_press', 'cancel') AND e.ts >= to_timestamp(%(start)s * 60)
  AND g.home_id = ANY(%(homes)s) GROUP BY 1, 2
"""
_LIMITS = """
SELECT resident_id, limit_min FROM inactivity_limits
WHERE resident_id = ANY(%s) AND days_seen >= %s
"""
_SAVE_LIMITS = """
INSERT INTO inactivity_limits (resident_id, limit_min, days_seen) VALUES (%s, %s, %s)
ON CONFLICT (resident_id) DO UPDATE
SET limit_min = excluded.limit_min, days_seen = excluded.days_seen, fitted_at = now()
"""

Prewarn = Callable[[Prewarning], None]


def build_minutes(conn: psycopg.Connection[Any], now_min: int, span: int = DAY_MIN,
                  only: list[int] | None = None) -> tuple[Minutes, list[tuple[int, str]]]:
    """The last ``span`` minutes as (residents, minutes) arrays, and each row's (resident,
    gateway): every resident behind an online gateway, or those of them in ``only``."""
    start = now_min - span + 1
    people = conn.execute(_RESIDENTS, {"only": only}).fetchall()
    row_of = {r: i for i, (r, *_) in enumerate(people)}
    homes: dict[int, list[int]] = {}
    for i, (_, home, *_) in enumerate(people):
        homes.setdefault(home, []).append(i)
    wear = np.full((len(people), span), np.nan)
    events = np.zeros((len(people), span), dtype=np.int64)
    button = np.zeros((len(people), span), dtype=bool)
    params = {"start": start, "residents": list(row_of), "homes": list(homes)}
    for resident, minute, score in conn.execute(_WEAR, params):
        if resident in row_of and start <= minute <= now_min:
            wear[row_of[resident], minute - start] = score or 0.0
    for query, target in ((_SENSORS, events), (_BUTTONS, button)):
        for home, minute, n in conn.execute(query, params):
            if start <= minute <= now_min:
                for i in homes.get(home, []):
                    target[i, minute - start] += n
    events += button
    minutes = np.arange(start, now_min + 1)[None, :]
    since = np.array([[np.inf if a is None else a] for *_, a, _ in people] or np.zeros((0, 1)))
    until = np.array([[np.inf if b is None else b] for *_, b in people] or np.zeros((0, 1)))
    away = (minutes >= since) & (minutes < until)
    local = Minutes(start + UTC_OFFSET_MIN, wear, events, button, away)
    return local, [(r, gw) for r, _, gw, *_ in people]


def inactivity_pass(conn: psycopg.Connection[Any], now_min: int,
                    raised: set[tuple[int, str, int]], prewarn: Prewarn | None = None,
                    rules: InactivityRules | None = None) -> list[int]:
    """Alerts for inactivity alarms of the last few minutes (each raised once), by the rules
    (``rules``, or the standard ones with a resident's own windows where they have them) and,
    for residents who have them, by their learned limits."""
    rules = rules or InactivityRules()
    m, who = build_minutes(conn, now_min)
    if not who:
        return []
    events: list[InactivityEvent] = []
    for rows, group_rules in _rule_groups(conn, who, rules):
        events += [replace(e, resident=rows[e.resident])
                   for e in evaluate_rules(_subset(m, rows), group_rules)]
    learned = dict(conn.execute(_LIMITS, ([r for r, _ in who], MIN_DAYS)).fetchall())
    rows = [i for i, (r, _) in enumerate(who) if r in learned]
    if rows:
        sub = _subset(m, rows)
        limits = LearnedLimits(np.array([learned[who[i][0]] for i in rows], dtype=np.int64))
        events += [replace(e, resident=rows[e.resident]) for e in evaluate_learned(sub, limits)
                   if e.rule == "learned"]
    return _act(conn, events, who, now_min, raised, prewarn, rules.prewarn_min)


def _subset(m: Minutes, rows: list[int]) -> Minutes:
    return Minutes(m.start, m.wear[rows], m.events[rows], m.button[rows], m.away[rows])


def _rule_groups(conn: psycopg.Connection[Any], who: list[tuple[int, str]],
                 default: InactivityRules) -> list[tuple[list[int], InactivityRules]]:
    """Rows of ``who`` grouped by the rules that judge them: ``default``, or the standard
    rules with a resident's own windows (one evaluation per distinct set)."""
    own = dict(conn.execute(_OWN_RULES, ([r for r, _ in who],)).fetchall())
    groups: dict[RuleSettings | None, list[int]] = {}
    for i, (resident, _) in enumerate(who):
        key = RuleSettings().override(**own[resident]) if resident in own else None
        groups.setdefault(key, []).append(i)
    return [(rows, default if key is None else key.rules()) for key, rows in groups.items()]


def _act(conn: psycopg.Connection[Any], events: list[InactivityEvent],
         who: list[tuple[int, str]], now_min: int, raised: set[tuple[int, str, int]],
         prewarn: Prewarn | None, window_min: int) -> list[int]:
    recent = now_min + UTC_OFFSET_MIN - 5
    touched = []
    for e in events:
        resident, gateway = who[e.resident]
        key = (resident, f"{e.rule}:{e.outcome.value}", e.minute - e.inactive_min)
        if e.minute < recent or key in raised:
            continue
        raised.add(key)
        if e.outcome == Outcome.PREWARN and prewarn is not None:
            prewarn(Prewarning(gateway, resident, e.rule, e.inactive_min, window_min))
        elif e.outcome == Outcome.ALARM:
            log.warning("inactivity: resident %d, rule %s, %d min", resident, e.rule,
                        e.inactive_min)
            ctx = resident_context(conn, resident)
            warned = (resident, f"{e.rule}:{Outcome.PREWARN.value}", key[2]) in raised
            with conn.transaction():
                touched.append(service.raise_alert(
                    conn, AlertType.INACTIVITY, Priority.P2, ctx,
                    {"rule": e.rule, "inactive_min": e.inactive_min,
                     "prewarned": warned}).alert.id)
    return touched


def fit_limits(conn: psycopg.Connection[Any], now_min: int, days: int = LEARN_DAYS) -> int:
    """Refit every resident's learned limits from the ``days`` days before the last 24 h (an
    inactivity going on now is not learned as normal), in batches. Days with no data at all
    (the resident away, the home not yet installed, the gateway down) are left out. Returns how
    many residents have enough history (``MIN_DAYS``) for their limits to be used."""
    ids = [r for (r,) in conn.execute(
        "SELECT r.id FROM residents r JOIN gateways g ON g.home_id = r.home_id ORDER BY r.id")]
    fitted_n = usable = 0
    for i in range(0, len(ids), FIT_BATCH):
        m, who = build_minutes(conn, now_min - DAY_MIN, days * DAY_MIN, ids[i:i + FIT_BATCH])
        if not who:
            continue
        seen = ~np.isnan(m.wear) | (m.events > 0)
        day_seen = seen.reshape(len(who), days, DAY_MIN).any(axis=2)
        days_seen = day_seen.sum(axis=1)
        unseen = np.repeat(~day_seen, DAY_MIN, axis=1)
        fitted = fit_learned(replace(m, away=m.away | unseen))
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(_SAVE_LIMITS, [
                (resident, limits.tolist(), int(n))
                for (resident, _), limits, n in zip(who, fitted.limit_min, days_seen,
                                                    strict=True)])
        fitted_n += len(who)
        usable += int((days_seen >= MIN_DAYS).sum())
    log.info("inactivity: learned limits fitted for %d residents, %d with %d+ days of history",
             fitted_n, usable, MIN_DAYS)
    return usable
