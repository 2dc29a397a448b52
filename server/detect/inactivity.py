"""Inactivity over the last 24 h of per-minute activity, every resident at once.

Activity of a resident = their wearables' counts, plus PIR / door events and button presses in
their home. Residents behind an offline gateway are skipped (the gateway-offline alert covers
them); away / holiday mode (``residents.away_until``) suspends the count. Alarms become P2 alerts
(raised to P1 by care tags); pre-warnings go to the home's gateway as a ``prewarn`` command, which
the resident cancels by pressing their button.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import psycopg

from analytics.inactivity import InactivityRules, Minutes, Outcome, evaluate_rules
from server.alerts import engine
from server.alerts.model import AlertType, Priority

log = logging.getLogger(__name__)

UTC_OFFSET_MIN = 8 * 60  # the rules' hours are local (China Standard Time)
SPAN = 24 * 60

_RESIDENTS = """
SELECT r.id, r.home_id, g.id, floor(extract(epoch FROM coalesce(r.away_until, 'epoch')) / 60)
FROM residents r JOIN gateways g ON g.home_id = r.home_id
WHERE g.state = 'online' ORDER BY r.id
"""
_WEAR = """
SELECT d.resident_id, floor(extract(epoch FROM a.minute) / 60)::int8, max(a.score)
FROM activity_minute a JOIN devices d ON d.uid = a.device
WHERE a.source = 'wearable' AND a.minute >= to_timestamp(%s * 60) GROUP BY 1, 2
"""
_SENSORS = """
SELECT g.home_id, floor(extract(epoch FROM a.minute) / 60)::int8, sum(a.count)::int8
FROM activity_minute a JOIN devices d ON d.uid = a.device JOIN gateways g ON g.id = d.gateway_id
WHERE a.source IN ('pir', 'door') AND a.minute >= to_timestamp(%s * 60) GROUP BY 1, 2
"""
_BUTTONS = """
SELECT g.home_id, floor(extract(epoch FROM e.ts) / 60)::int8, count(*)::int8
FROM events e JOIN gateways g ON g.id = e.gateway_id
WHERE e.type IN ('press', 'long_press', 'cancel') AND e.ts >= to_timestamp(%s * 60)
GROUP BY 1, 2
"""

Prewarn = Callable[[str, int], None]


def build_minutes(conn: psycopg.Connection[Any], now_min: int,
                  ) -> tuple[Minutes, list[tuple[int, str]]]:
    """The last 24 h as (residents, minutes) arrays, and each row's (resident, gateway)."""
    start = now_min - SPAN + 1
    people = conn.execute(_RESIDENTS).fetchall()
    row_of = {r: i for i, (r, _, _, _) in enumerate(people)}
    homes: dict[int, list[int]] = {}
    for i, (_, home, _, _) in enumerate(people):
        homes.setdefault(home, []).append(i)
    wear = np.full((len(people), SPAN), np.nan)
    events = np.zeros((len(people), SPAN), dtype=np.int64)
    button = np.zeros((len(people), SPAN), dtype=bool)
    for resident, minute, score in conn.execute(_WEAR, (start,)):
        if resident in row_of and start <= minute <= now_min:
            wear[row_of[resident], minute - start] = score or 0.0
    for query, target in ((_SENSORS, events), (_BUTTONS, button)):
        for home, minute, n in conn.execute(query, (start,)):
            if start <= minute <= now_min:
                for i in homes.get(home, []):
                    target[i, minute - start] += n
    events += button
    away = (np.arange(start, now_min + 1)[None, :] <
            np.array([[a] for _, _, _, a in people] or np.zeros((0, 1))))
    local = Minutes(start + UTC_OFFSET_MIN, wear, events, button, away)
    return local, [(r, gw) for r, _, gw, _ in people]


def inactivity_pass(conn: psycopg.Connection[Any], now_min: int,
                    raised: set[tuple[int, str, int]], prewarn: Prewarn | None = None,
                    rules: InactivityRules | None = None) -> list[int]:
    """Alerts for inactivity alarms of the last few minutes (each raised once)."""
    m, who = build_minutes(conn, now_min)
    if not who:
        return []
    recent = now_min + UTC_OFFSET_MIN - 5
    touched = []
    for e in evaluate_rules(m, rules or InactivityRules()):
        resident, gateway = who[e.resident]
        key = (resident, f"{e.rule}:{e.outcome.value}", e.minute - e.inactive_min)
        if e.minute < recent or key in raised:
            continue
        raised.add(key)
        if e.outcome == Outcome.PREWARN and prewarn is not None:
            prewarn(gateway, resident)
        elif e.outcome == Outcome.ALARM:
            log.warning("inactivity: resident %d, rule %s, %d min", resident, e.rule,
                        e.inactive_min)
            ctx = engine.resident_context(conn, resident)
            with conn.transaction():
                touched.append(engine.raise_alert(conn, AlertType.INACTIVITY, Priority.P2, ctx, {
                    "rule": e.rule, "inactive_min": e.inactive_min}))
    return touched
