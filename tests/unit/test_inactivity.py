"""Inactivity rules, learned limits, wearable status, and the simulated-month evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analytics import inactivity_eval
from analytics.inactivity import (
    DAY,
    InactivityEvent,
    InactivityRules,
    Minutes,
    Outcome,
    Rule,
    Window,
    evaluate_learned,
    evaluate_rules,
    fit_learned,
)
from analytics.inactivity_sim import START


def day_minutes(days: int = 2, residents: int = 1) -> Minutes:
    """Busy all the time (PIR every minute, wearable moving) unless a test says otherwise."""
    n = days * DAY
    return Minutes(START, np.full((residents, n), 5.0), np.ones((residents, n), dtype=np.int64),
                   np.zeros((residents, n), dtype=bool), np.zeros((residents, n), dtype=bool))


def quiet(m: Minutes, a: int, b: int, r: int = 0) -> None:
    m.wear[r, a:b] = 0.1  # worn, lying still
    m.events[r, a:b] = 0


def hhmm(day: int, h: int, minute: int = 0) -> int:
    return day * DAY + h * 60 + minute


CONTINUOUS = InactivityRules(rules=(Rule("c4", 4.0),))


def _alarms(events: list[InactivityEvent],
            outcome: Outcome = Outcome.ALARM) -> list[tuple[str, int]]:
    return [(e.rule, e.minute - START) for e in events if e.outcome is outcome]


def test_continuous_rule_pauses_in_the_sleep_window() -> None:
    m = day_minutes()
    quiet(m, hhmm(0, 20), hhmm(1, 12))
    ev = evaluate_rules(m, CONTINUOUS)
    # 2 h counted before 22:00, the night is not counted, 2 more hours from 07:00
    assert _alarms(ev) == [("c4", hhmm(1, 8, 59))]
    assert _alarms(ev, Outcome.PREWARN) == [("c4", hhmm(1, 8, 44))]
    no_sleep = evaluate_rules(m, InactivityRules(rules=CONTINUOUS.rules, sleep=None))
    assert _alarms(no_sleep) == [("c4", hhmm(0, 23, 59))]


def test_away_mode_suspends_and_restarts_the_count() -> None:
    m = day_minutes()
    quiet(m, hhmm(0, 9), hhmm(0, 21))
    m.away[0, hhmm(0, 10) : hhmm(0, 18)] = True  # out, away mode on
    assert _alarms(evaluate_rules(m, CONTINUOUS)) == []
    m.away[0, :] = False
    assert _alarms(evaluate_rules(m, CONTINUOUS)) == [("c4", hhmm(0, 12, 59))]


def test_prewarning_cancelled_by_the_button() -> None:
    m = day_minutes()
    quiet(m, hhmm(0, 9), hhmm(0, 15))
    m.button[0, hhmm(0, 12, 50)] = True  # the resident answers the pre-warning
    ev = evaluate_rules(m, CONTINUOUS)
    assert _alarms(ev, Outcome.PREWARN) == [("c4", hhmm(0, 12, 44))]
    assert _alarms(ev, Outcome.CANCELLED) == [("c4", hhmm(0, 12, 50))]
    assert _alarms(ev) == []  # the count restarted at 12:50 and reaches 4 h only after 15:00


def test_window_rules() -> None:
    rules = InactivityRules(rules=(Rule("morning", None, Window(7.0, 10.0)),
                                   Rule("day_gap", 2.0, Window(8.0, 21.0))), sleep=None)
    m = day_minutes()
    quiet(m, hhmm(0, 6), hhmm(0, 11))
    quiet(m, hhmm(0, 19, 30), hhmm(1, 9))
    ev = evaluate_rules(m, rules)
    # day 1: nothing from 06:00 to 11:00 -> both fire at 09:59 (the gap counts from 08:00);
    # the evening gap 19:30-21:00 is under 2 h inside the window; day 2 is busy from 09:00
    assert sorted(_alarms(ev)) == [("day_gap", hhmm(0, 9, 59)), ("morning", hhmm(0, 9, 59))]
    quiet(m, hhmm(1, 9), hhmm(1, 10, 30))
    assert ("day_gap", hhmm(1, 9, 59)) in _alarms(evaluate_rules(m, rules))


def test_not_worn_and_silent_are_separate_from_inactivity() -> None:
    m = day_minutes()
    m.wear[0, hhmm(0, 10) : hhmm(0, 12)] = 0.003  # on the table; PIR still sees the resident
    m.wear[0, hhmm(0, 14) : hhmm(0, 15)] = np.nan  # no data
    ev = evaluate_rules(m, CONTINUOUS)
    got = [(e.outcome, e.active, e.minute - START) for e in ev]
    assert (Outcome.NOT_WORN, True, hhmm(0, 10, 59)) in got
    assert (Outcome.NOT_WORN, False, hhmm(0, 12)) in got
    assert (Outcome.DEVICE_SILENT, True, hhmm(0, 14, 29)) in got
    assert (Outcome.DEVICE_SILENT, False, hhmm(0, 15)) in got
    assert _alarms(ev) == []


def _routine_history(weeks: int = 3) -> Minutes:
    m = day_minutes(days=7 * weeks)
    for d in range(7 * weeks):
        quiet(m, hhmm(d, 0), hhmm(d, 7))  # nights
        quiet(m, hhmm(d, 13), hhmm(d, 15))  # a daily two-hour nap
        quiet(m, hhmm(d, 22), hhmm(d + 1, 0))
    return m


def test_learned_limits_follow_the_routine() -> None:
    learned = fit_learned(_routine_history())
    monday = learned.limit_min[0, :24]
    assert monday[10] == 90  # a busy hour: the floor
    assert monday[14] >= 120 * 1.25 + 60  # the nap hour allows the nap and then some
    assert monday[3] > 7 * 60  # the night


def test_learned_alarm_is_faster_than_a_fixed_timer_and_spares_the_nap() -> None:
    learned = fit_learned(_routine_history())
    m = day_minutes(days=1)
    quiet(m, hhmm(0, 0), hhmm(0, 7))
    quiet(m, hhmm(0, 13), hhmm(0, 15))
    assert _alarms(evaluate_learned(m, learned)) == []
    quiet(m, hhmm(0, 10), hhmm(0, 13))  # collapsed at 10:00
    (alarm,) = _alarms(evaluate_learned(m, learned))
    assert alarm[1] < hhmm(0, 14)
    fixed = _alarms(evaluate_rules(m, CONTINUOUS))
    assert fixed
    assert fixed[0][1] > alarm[1]


def test_simulated_month_evaluation_runs_and_is_sane(capsys: pytest.CaptureFixture[str]) -> None:
    assert inactivity_eval.main(["--residents", "12", "--days", "7", "--history-days", "14",
                                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    methods = {r["method"]: r for r in out["results"]}
    assert {"rules:any", "learned", "rule:continuous_4h"} <= set(methods)
    for r in methods.values():
        assert 0 <= r["detected"] <= r["emergencies"]
        assert r["false_alarms_per_resident_day"] >= 0
    assert methods["rules:any"]["detected"] >= methods["rule:continuous_4h"]["detected"]
