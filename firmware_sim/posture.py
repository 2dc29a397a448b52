"""From a resident's timeline to the body pieces a wearable feels: postures, sleep turns, falls."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

import numpy as np

from firmware_sim.body import IMPACT_S, RATE_HZ, Phase, Piece, Vec, snap
from firmware_sim.routine import DAY, Activity, Timeline
from kernel.placement import Placement

UP: Final[dict[Placement, dict[Activity, Vec]]] = {
    Placement.WAIST: {Activity.STANDING: (0.0, 0.0, 1.0), Activity.WALKING: (0.0, 0.0, 1.0),
                      Activity.SITTING: (0.0, 0.42, 0.91), Activity.LYING: (0.0, 1.0, 0.0),
                      Activity.SLEEPING: (0.0, 1.0, 0.0)},
    Placement.WRIST: {Activity.STANDING: (-0.94, 0.17, 0.30), Activity.WALKING: (-0.97, 0.1, 0.2),
                      Activity.SITTING: (-0.26, 0.10, 0.96), Activity.LYING: (0.1, 0.55, 0.83),
                      Activity.SLEEPING: (0.1, 0.55, 0.83)},
}
SLEEP_SIDES: Final[dict[Placement, tuple[Vec, ...]]] = {
    Placement.WAIST: ((0.0, 1.0, 0.0), (-1.0, 0.0, 0.0), (1.0, 0.0, 0.0)),
    Placement.WRIST: ((0.1, 0.55, 0.83), (0.2, -0.9, 0.4), (-0.3, 0.3, -0.9)),
}
LYING_AFTER_FALL: Final = ((1.0, 0.0, 0.0), (-1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, -1.0, 0.0))
LEVEL: Final = {Activity.SLEEPING: 0.003, Activity.LYING: 0.004, Activity.SITTING: 0.01,
                Activity.STANDING: 0.02, Activity.WALKING: 0.04}
TABLE_UP: Final = (0.0, 0.0, 1.0)
TURN_EVERY_S: Final = 35 * 60.0  # mean time between turns in sleep
GET_UP_S: Final = 4.0


@dataclass(frozen=True, slots=True)
class Fall:
    """A scripted fall at ``t``; the wearer lies still, then gets up after ``get_up_after`` s
    (None: stays down for the rest of the day)."""

    t: float
    get_up_after: float | None = None


def day_pieces(timeline: Timeline, placement: Placement, rng: np.random.Generator, *,
               falls: Sequence[Fall] = (), off: Sequence[tuple[float, float]] = ()) -> list[Piece]:
    """Every piece of the day, in time order."""
    pieces: list[Piece] = []
    for s, e, seg in timeline.between(0.0, DAY):
        pieces += _segment_pieces(snap(s), e, seg.activity, seg.still, placement, rng)
    for a, b in off:
        pieces = overlay(pieces, snap(a), snap(b),
                         [Piece(snap(a), Phase.OFF, TABLE_UP, 0.0005, activity=None)])
    for fall in sorted(falls, key=lambda f: f.t):
        new, end = _fall_pieces(fall, pieces, placement, rng)
        pieces = overlay(pieces, new[0].start, end, new)
    return pieces


def _segment_pieces(s: float, e: float, activity: Activity, still: bool, placement: Placement,
                    rng: np.random.Generator) -> list[Piece]:
    level = LEVEL[activity] * (0.3 if still else 1.0)
    up = UP[placement][activity]
    if activity is Activity.WALKING and not still:
        return [Piece(s, Phase.WALK, up, level, float(rng.uniform(1.8, 2.0)),
                      float(rng.uniform(0.2, 0.5)), activity)]
    if activity is not Activity.SLEEPING:
        return [Piece(s, Phase.POSTURE, up, level, activity=activity)]
    sides = SLEEP_SIDES[placement]
    side = int(rng.integers(len(sides)))
    out = [Piece(s, Phase.POSTURE, sides[side], level, activity=activity)]
    t = s + float(rng.exponential(TURN_EVERY_S))
    while t < e - 5:
        side = (side + int(rng.integers(1, len(sides)))) % len(sides)
        out.append(Piece(snap(t), Phase.POSTURE, sides[side], 0.08, activity=activity))
        out.append(Piece(snap(t + 3), Phase.POSTURE, sides[side], level, activity=activity))
        t += 3 + float(rng.exponential(TURN_EVERY_S))
    return out


def _fall_pieces(fall: Fall, pieces: Sequence[Piece], placement: Placement,
                 rng: np.random.Generator) -> tuple[list[Piece], float]:
    """Stumble 1 s, near free fall 0.3-0.6 s, impact, lying ~90° from before; maybe get up."""
    tf = snap(fall.t)
    before = _at(pieces, tf - 1.0)
    drop = round(float(rng.uniform(0.3, 0.6)) * RATE_HZ) / RATE_HZ
    if placement is Placement.WAIST:
        new_up = LYING_AFTER_FALL[int(rng.integers(len(LYING_AFTER_FALL)))]
        peak = float(rng.uniform(3.0, 8.0))
    else:
        new_up = _perpendicular(before.up, rng)
        peak = float(rng.uniform(4.0, 9.0))
    wobble = _perpendicular(before.up, rng)
    tilted = (0.94 * before.up[0] + 0.34 * wobble[0], 0.94 * before.up[1] + 0.34 * wobble[1],
              0.94 * before.up[2] + 0.34 * wobble[2])  # ~20° off: the stumble
    lying = snap(tf + drop + IMPACT_S)
    out = [Piece(snap(tf - 1.0), Phase.STUMBLE, tilted, 0.25, stress=True),
           Piece(tf, Phase.FREEFALL, new_up, 0.04, amp=float(rng.uniform(0.1, 0.35)),
                 activity=Activity.STANDING, stress=True),
           Piece(snap(tf + drop), Phase.IMPACT, new_up, 0.05, amp=peak, stress=True),
           Piece(lying, Phase.POSTURE, new_up, 0.003, activity=Activity.LYING, stress=True)]
    if fall.get_up_after is None:
        return out, DAY
    up_at = snap(lying + fall.get_up_after)
    out.append(Piece(up_at, Phase.POSTURE, UP[placement][Activity.SITTING], 0.15,
                     activity=Activity.SITTING, stress=True))
    return out, up_at + GET_UP_S


def overlay(pieces: Sequence[Piece], t0: float, t1: float, new: Sequence[Piece]) -> list[Piece]:
    """``pieces`` with ``[t0, t1)`` replaced by ``new``; what was going on at ``t1`` resumes."""
    before = [p for p in pieces if p.start < t0]
    after = [p for p in pieces if p.start >= t1]
    resume = [] if t1 >= DAY or (after and after[0].start == t1) else [
        replace(_at(pieces, t1), start=t1)]
    return [*before, *new, *resume, *after]


def _at(pieces: Sequence[Piece], t: float) -> Piece:
    current = pieces[0]
    for p in pieces:
        if p.start > t:
            break
        current = p
    return current


def _perpendicular(v: Vec, rng: np.random.Generator) -> Vec:
    """A random unit vector at 90° to ``v``."""
    a = np.asarray(v, dtype=np.float64)
    r = np.cross(a, rng.standard_normal(3))
    r /= np.linalg.norm(r)
    return (float(r[0]), float(r[1]), float(r[2]))
