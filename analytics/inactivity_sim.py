"""Simulated residents for evaluating inactivity alarms: randomised routines, injected emergencies.

Each resident gets a routine (wake and bed times, naps, sitting spells, outings, night toilet
visits, habits of wearing the wearable at night and taking it off) that varies day to day, plus
occasional holidays (declared away), undeclared outings, wearable drop-outs. The per-minute
output is what the home would report: wearable activity counts (NaN when silent), PIR/door event
counts, and the away flag. Emergencies: from onset the resident lies still for 24 h (no PIR or
door events; a worn wearable shows only tiny movements).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics.inactivity import DAY, Minutes

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

SLEEP, MOVE, SIT, NAP, OUT = range(5)
EMERGENCY_MIN = 24 * 60
START = 20089 * DAY  # local midnight of a Monday (2025-01-06)


@dataclass(frozen=True, slots=True)
class Simulation:
    history: Minutes  # weeks before the evaluated month, no emergencies
    month: Minutes
    asleep: B  # (residents, minutes) of the month: in bed or napping
    onset: I64  # per resident: column of the emergency in ``month`` or -1


@dataclass(frozen=True, slots=True)
class _Habits:
    wake: float
    bed: float
    night_wear: bool
    day_wear: float
    nap: float
    outing: float
    declare: float
    pir_move: float
    pir_sit: float


def _habits(rng: np.random.Generator) -> _Habits:
    return _Habits(
        wake=rng.uniform(5.5, 8.0), bed=rng.uniform(21.0, 23.5), night_wear=rng.random() < 0.4,
        day_wear=rng.uniform(0.75, 0.98), nap=rng.uniform(0.0, 0.8), outing=rng.uniform(0.1, 0.7),
        declare=rng.uniform(0.0, 0.6), pir_move=rng.uniform(0.3, 1.0),
        pir_sit=rng.uniform(0.02, 0.15),
    )


def _day(rng: np.random.Generator, h: _Habits) -> tuple[I64, B]:
    """States of one day (minute 0 = midnight) and whether an outing was declared away."""
    s = np.full(DAY, MOVE, dtype=np.int64)
    wake = int(np.clip(rng.normal(h.wake, 0.4), 4.5, 10.0) * 60)
    bed = int(np.clip(rng.normal(h.bed, 0.4), 20.0, 23.9) * 60)
    s[:wake] = SLEEP
    s[bed:] = SLEEP
    for _ in range(rng.integers(0, 3)):  # night toilet visits
        t = int(rng.choice(np.r_[0:wake, bed:DAY]))
        s[t : t + int(rng.integers(3, 9))] = MOVE
    for _ in range(rng.integers(2, 5)):  # sitting spells (TV, reading)
        t = int(rng.integers(wake, bed))
        s[t : min(t + int(rng.integers(30, 150)), bed)] = SIT
    if rng.random() < h.nap:
        t = int(rng.normal(13.5, 0.5) * 60)
        s[t : t + int(rng.integers(30, 120))] = NAP
    away = np.zeros(DAY, dtype=bool)
    if rng.random() < h.outing:
        t = int(rng.integers(wake + 60, max(bed - 240, wake + 61)))
        n = int(rng.integers(60, 240))
        s[t : t + n] = OUT
        away[t : t + n] = rng.random() < h.declare
    return s, away


def _sensors(rng: np.random.Generator, s: I64, h: _Habits) -> tuple[F64, I64]:
    """Wearable counts and PIR/door events for a sequence of states."""
    n = len(s)
    day_part = (s == MOVE) | (s == SIT) | (s == OUT)
    worn = np.where(day_part, True, h.night_wear)
    off_today = np.repeat(rng.random(n // DAY + 1) > h.day_wear, DAY)[:n]  # forgot it all day
    worn &= ~(off_today & day_part)
    median = np.array([0.08, 5.0, 0.3, 0.08, 6.0])[s]
    wear = np.where(worn, median * rng.lognormal(0.0, 0.8, n), 0.004 * rng.lognormal(0, 0.3, n))
    rate = np.array([0.01, h.pir_move, h.pir_sit, 0.01, 0.0])[s]
    events = rng.poisson(rate)
    edges = np.flatnonzero(np.diff((s == OUT).astype(np.int8)) != 0) + 1
    events[edges] += 1  # door
    for _ in range(rng.poisson(n / DAY * 0.05)):  # wearable drop-outs
        t = int(rng.integers(0, n))
        wear[t : t + int(rng.integers(30, 120))] = np.nan
    return wear, events.astype(np.int64)


def _resident(rng: np.random.Generator, h: _Habits, days: int, holiday: bool) -> tuple[I64, B]:
    states, away = zip(*(_day(rng, h) for _ in range(days)), strict=True)
    s, a = np.concatenate(states), np.concatenate(away)
    if holiday:
        t = int(rng.integers(0, max(days - 5, 1))) * DAY + 9 * 60
        span = int(rng.integers(2, 6)) * DAY
        s[t : t + span] = OUT
        a[t : t + span] = True
    return s, a


def simulate(residents: int = 200, days: int = 30, history_days: int = 28,
             seed: int = 1, emergency_share: float = 0.5) -> Simulation:
    """``history_days`` of history then ``days`` evaluated, for ``residents`` residents."""
    rng = np.random.default_rng(seed)
    total = (history_days + days) * DAY
    wear = np.zeros((residents, total))
    events = np.zeros((residents, total), dtype=np.int64)
    away = np.zeros((residents, total), dtype=bool)
    states = np.zeros((residents, total), dtype=np.int64)
    for r in range(residents):
        habits = _habits(rng)
        s, a = _resident(rng, habits, history_days + days, holiday=rng.random() < 0.1)
        states[r], away[r] = s, a
        wear[r], events[r] = _sensors(rng, s, habits)
    onset = _emergencies(rng, states, away, history_days * DAY, emergency_share)
    for r, c in enumerate(onset):
        if c >= 0:
            a, b = history_days * DAY + c, history_days * DAY + c + EMERGENCY_MIN
            still = 0.05 * rng.lognormal(0.0, 0.7, b - a)
            wear[r, a:b] = np.where(np.isnan(wear[r, a:b]) | (wear[r, a:b] < 0.02),
                                    wear[r, a:b], still)
            events[r, a:b] = 0
            away[r, a:b] = False
    h = history_days * DAY
    no_button = np.zeros((residents, total), dtype=bool)
    hist = Minutes(START, wear[:, :h], events[:, :h], no_button[:, :h], away[:, :h])
    month = Minutes(START + h, wear[:, h:], events[:, h:], no_button[:, h:], away[:, h:])
    asleep = (states[:, h:] == SLEEP) | (states[:, h:] == NAP)
    return Simulation(hist, month, asleep, onset)


def _emergencies(rng: np.random.Generator, states: I64, away: B, offset: int,
                 share: float) -> I64:
    """One emergency for ``share`` of residents, at home, early enough to last 24 h."""
    k, total = states.shape
    onset = np.full(k, -1, dtype=np.int64)
    for r in range(k):
        if rng.random() >= share:
            continue
        home = np.flatnonzero((states[r, offset : total - EMERGENCY_MIN] != OUT)
                              & ~away[r, offset : total - EMERGENCY_MIN])
        if len(home):
            onset[r] = int(rng.choice(home))
    return onset
