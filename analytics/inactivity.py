"""Inactivity alarms from per-minute activity, over ``(residents, minutes)`` arrays.

A minute is *active* when the wearable's count reaches ``active_level`` or any PIR, door or button
event happened. Outcomes (each an :class:`InactivityEvent`):

- ``prewarn`` / ``alarm``: an inactivity run reached ``limit - prewarn_min`` / ``limit``;
- ``cancelled``: a button press answered a pre-warning before its alarm (the press is activity);
- ``device_silent``: no wearable data for ``silent_min``; ``not_worn``: wearable data without any
  motion above the noise floor for ``not_worn_min`` (a wrist on a living person always moves a
  little) — both separate from "no activity", with an end event when they stop.

Limits come from rules operators understand (:class:`Rule`: continuous N hours outside the sleep
window, or a gap of N hours inside a day window, or no activity in the whole window) or from
per-resident, per-hour-of-week limits learned from history (:func:`fit_learned`). Away/holiday
minutes suspend everything and restart the count.

Minute indices are *local* minutes since 1970-01-01 (the caller adds the UTC offset).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from analytics.errors import InputError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

DAY = 1440
WEEK = 7 * DAY
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday; weeks here start on Monday 00:00


class Outcome(StrEnum):
    PREWARN = "prewarn"
    ALARM = "alarm"
    CANCELLED = "cancelled"
    NOT_WORN = "not_worn"
    DEVICE_SILENT = "device_silent"


@dataclass(frozen=True, slots=True)
class InactivityEvent:
    resident: int
    minute: int  # absolute local minute
    outcome: Outcome
    rule: str
    inactive_min: int
    active: bool = True  # False: a not-worn / device-silent period ended


@dataclass(frozen=True, slots=True)
class Window:
    """Hours of the day ``[start_h, end_h)``; wraps past midnight when ``end_h <= start_h``."""

    start_h: float
    end_h: float

    def mask(self, minute_of_day: I64) -> B:
        a, b = round(self.start_h * 60) % DAY, round(self.end_h * 60) % DAY
        if a < b:
            return np.asarray((minute_of_day >= a) & (minute_of_day < b))
        return np.asarray((minute_of_day >= a) | (minute_of_day < b))

    def starts(self, minute_of_day: I64) -> B:
        return np.asarray(minute_of_day == round(self.start_h * 60) % DAY)

    @property
    def length_min(self) -> int:
        return (round(self.end_h * 60) - round(self.start_h * 60)) % DAY or DAY


@dataclass(frozen=True, slots=True)
class Rule:
    """``window=None``: N continuous hours of inactivity, not counting the sleep window.
    With a window: a gap of N hours inside it (``hours=None``: no activity in the whole window),
    counted from the window's start each day."""

    name: str
    hours: float | None
    window: Window | None = None

    def limit_min(self) -> int:
        if self.hours is None:
            if self.window is None:
                raise InputError(f"rule {self.name!r}: hours=None needs a window")
            return self.window.length_min
        return round(self.hours * 60)


@dataclass(frozen=True, slots=True)
class InactivityRules:
    rules: tuple[Rule, ...] = (
        Rule("continuous_4h", 4.0),
        Rule("morning_no_activity", None, Window(7.0, 10.0)),
        Rule("day_gap_3h", 3.0, Window(8.0, 21.0)),
    )
    sleep: Window | None = Window(22.0, 7.0)
    prewarn_min: int = 15


@dataclass(frozen=True, slots=True)
class RuleSettings:
    """The standard rules by their numbers (hours of the day, local time), as a supervisor sets
    them per resident: N continuous hours outside the sleep window, no activity in the morning
    window, a gap of N hours in the day window. ``RuleSettings().rules() == InactivityRules()``."""

    continuous_h: float = 4.0
    morning_start_h: float = 7.0
    morning_end_h: float = 10.0
    day_gap_h: float = 3.0
    day_start_h: float = 8.0
    day_end_h: float = 21.0
    sleep_start_h: float = 22.0
    sleep_end_h: float = 7.0
    prewarn_min: int = 15

    def override(self, **changes: float) -> RuleSettings:
        """A copy with some numbers changed (per-resident overrides); unknown names raise."""
        bad = set(changes) - {f.name for f in fields(self)}
        if bad:
            raise InputError(f"unknown inactivity setting(s): {sorted(bad)}")
        values: dict[str, float | int] = dict(changes)
        if "prewarn_min" in values:
            values["prewarn_min"] = int(values["prewarn_min"])
        return replace(self, **values)  # type: ignore[arg-type]

    def rules(self) -> InactivityRules:
        return InactivityRules(
            rules=(Rule(f"continuous_{self.continuous_h:g}h", self.continuous_h),
                   Rule("morning_no_activity", None,
                        Window(self.morning_start_h, self.morning_end_h)),
                   Rule(f"day_gap_{self.day_gap_h:g}h", self.day_gap_h,
                        Window(self.day_start_h, self.day_end_h))),
            sleep=Window(self.sleep_start_h, self.sleep_end_h), prewarn_min=self.prewarn_min)


@dataclass(frozen=True, slots=True)
class SensorLevels:
    active_level: float = 0.5  # wearable count (g·s per minute) that makes a minute active
    worn_floor: float = 0.02  # below this the wearable is not moving at all
    not_worn_min: int = 60
    silent_min: int = 30


@dataclass(frozen=True, slots=True)
class Minutes:
    """Per-minute inputs, each ``(residents, minutes)``; column 0 is local minute ``start``.

    ``wear``: wearable activity count, NaN where the wearable sent nothing; ``events``: PIR, door
    and button events; ``button``: button presses (also in ``events``); ``away``: away/holiday.
    """

    start: int
    wear: F64
    events: I64
    button: B
    away: B

    def active(self, levels: SensorLevels) -> B:
        with np.errstate(invalid="ignore"):
            worn_active = np.nan_to_num(self.wear, nan=0.0) >= levels.active_level
        return np.asarray(worn_active | (self.events > 0) | self.button)

    def minute_of_day(self) -> I64:
        return np.asarray((self.start + np.arange(self.wear.shape[1])) % DAY)

    def hour_of_week(self) -> I64:
        m = self.start + np.arange(self.wear.shape[1]) + EPOCH_WEEKDAY * DAY
        return np.asarray((m % WEEK) // 60)


def inactive_runs(active: B, counted: B, reset: B) -> I64:
    """Per minute: counted inactive minutes since the last active or reset minute."""
    k, n = active.shape
    inc = np.cumsum(counted & ~active, axis=1)
    stop = active | reset
    idx = np.broadcast_to(np.arange(n), (k, n))
    last = np.maximum.accumulate(np.where(stop, idx, -1), axis=1)
    base = np.where(last >= 0, inc[np.arange(k)[:, None], np.maximum(last, 0)], 0)
    return np.asarray(np.where(stop, 0, inc - base), dtype=np.int64)


def _crossings(run: I64, limit: I64 | int) -> B:
    over = run >= limit
    before = np.concatenate([np.zeros((run.shape[0], 1), dtype=bool), over[:, :-1]], axis=1)
    return np.asarray(over & ~before & (run > 0))


def _limit_events(
    m: Minutes, run: I64, limit: I64 | int, prewarn: int, name: str
) -> list[InactivityEvent]:
    out: list[InactivityEvent] = []
    pre_limit = np.maximum(np.asarray(limit) - prewarn, 1)
    for outcome, lim in ((Outcome.PREWARN, pre_limit), (Outcome.ALARM, limit)):
        rr, cc = np.nonzero(_crossings(run, lim))
        out += [InactivityEvent(int(r), m.start + int(c), outcome, name, int(run[r, c]))
                for r, c in zip(rr.tolist(), cc.tolist(), strict=True)]
    return out + _cancels(m, run, pre_limit, limit, name)


def _cancels(m: Minutes, run: I64, pre: I64 | int, limit: I64 | int,
             name: str) -> list[InactivityEvent]:
    """Button presses that ended a run between its pre-warning and its alarm."""
    prev = np.concatenate([np.zeros((run.shape[0], 1), dtype=np.int64), run[:, :-1]], axis=1)
    lim = np.broadcast_to(np.asarray(limit), run.shape)
    pre_b = np.broadcast_to(np.asarray(pre), run.shape)
    prev_lim = np.concatenate([lim[:, :1], lim[:, :-1]], axis=1)
    prev_pre = np.concatenate([pre_b[:, :1], pre_b[:, :-1]], axis=1)
    hit = m.button & (prev >= prev_pre) & (prev < prev_lim)
    rr, cc = np.nonzero(hit)
    return [InactivityEvent(int(r), m.start + int(c), Outcome.CANCELLED, name, int(prev[r, c]))
            for r, c in zip(rr.tolist(), cc.tolist(), strict=True)]


def evaluate_rules(m: Minutes, rules: InactivityRules,
                   levels: SensorLevels | None = None) -> list[InactivityEvent]:
    """Pre-warnings, alarms and cancels of every rule, plus wearable-status events."""
    lv = levels or SensorLevels()
    active = m.active(lv)
    mod = m.minute_of_day()[None, :]
    out: list[InactivityEvent] = []
    for rule in rules.rules:
        if rule.window is None:
            asleep = rules.sleep.mask(mod) if rules.sleep is not None else np.zeros_like(mod, bool)
            run = inactive_runs(active, ~asleep & ~m.away, m.away)
        else:
            inside = rule.window.mask(mod)
            opens = rule.window.starts((mod + 1) % DAY)  # the minute before the window opens
            run = inactive_runs(active, inside & ~m.away, m.away | opens)
            run = np.where(inside, run, 0)
        out += _limit_events(m, run, rule.limit_min(), rules.prewarn_min, rule.name)
    return _sorted(out + wearable_status(m, lv))


@dataclass(frozen=True, slots=True)
class LearnedLimits:
    """Per-resident limits in minutes for each hour of the week (Monday 00:00 = 0)."""

    limit_min: I64  # (residents, 168)
    prewarn_min: int = 15


def fit_learned(
    history: Minutes,
    levels: SensorLevels | None = None,
    factor: float = 1.25,
    margin_min: int = 60,
    floor_min: int = 90,
    cap_min: int = 16 * 60,
    smooth_h: int = 2,
) -> LearnedLimits:
    """Limits from history: for each resident and hour of the week, the longest inactivity run
    seen in that hour (over all weeks, ±``smooth_h`` hours), times ``factor`` plus ``margin_min``,
    clipped to [floor_min, cap_min]. Hours never observed get ``cap_min``."""
    lv = levels or SensorLevels()
    run = inactive_runs(history.active(lv), ~history.away, history.away)
    how = history.hour_of_week()
    k = run.shape[0]
    longest = np.full((k, 168), -1, dtype=np.int64)
    seen = ~history.away
    for h in range(168):
        cols = how == h
        if cols.any():
            longest[:, h] = np.where(seen[:, cols], run[:, cols], -1).max(axis=1)
    smooth = longest.copy()
    for s in range(1, smooth_h + 1):
        smooth = np.maximum(smooth, np.maximum(np.roll(longest, s, 1), np.roll(longest, -s, 1)))
    lim = np.clip(np.round(smooth * factor + margin_min), floor_min, cap_min).astype(np.int64)
    return LearnedLimits(np.where(smooth < 0, cap_min, lim))


def evaluate_learned(m: Minutes, learned: LearnedLimits,
                     levels: SensorLevels | None = None) -> list[InactivityEvent]:
    """Pre-warnings, alarms and cancels against the learned per-hour-of-week limits."""
    lv = levels or SensorLevels()
    if learned.limit_min.shape != (m.wear.shape[0], 168):
        raise InputError(f"learned limits {learned.limit_min.shape} for {m.wear.shape[0]} rows")
    run = inactive_runs(m.active(lv), ~m.away, m.away)
    limit = learned.limit_min[:, m.hour_of_week()]
    out = _limit_events(m, run, limit, learned.prewarn_min, "learned")
    return _sorted(out + wearable_status(m, lv))


def wearable_status(m: Minutes, levels: SensorLevels) -> list[InactivityEvent]:
    """``device_silent`` (no data) and ``not_worn`` (data, no motion) periods, start and end."""
    silent = np.isnan(m.wear)
    with np.errstate(invalid="ignore"):
        still = ~silent & (m.wear < levels.worn_floor)
    out: list[InactivityEvent] = []
    for outcome, flag, need in ((Outcome.DEVICE_SILENT, silent, levels.silent_min),
                                (Outcome.NOT_WORN, still, levels.not_worn_min)):
        run = inactive_runs(~flag, np.ones_like(flag), np.zeros_like(flag))  # runs of ``flag``
        on = _crossings(run, need)
        ended = (~flag[:, 1:]) & (run[:, :-1] >= need)
        for r, c in zip(*np.nonzero(on), strict=True):
            out.append(InactivityEvent(int(r), m.start + int(c), outcome, "wearable", int(need)))
        for r, c in zip(*np.nonzero(ended), strict=True):
            out.append(InactivityEvent(int(r), m.start + int(c) + 1, outcome, "wearable",
                                       int(run[r, c]), active=False))
    return out


def _sorted(events: list[InactivityEvent]) -> list[InactivityEvent]:
    return sorted(events, key=lambda e: (e.resident, e.minute, e.rule, e.outcome.value))
