"""Heart-rate and SpO2 limits with hysteresis, minimum duration and sensor-contact gating.

A breach *starts* once readings beyond the limit have lasted ``min_duration_s`` (no reading inside
the limit in between, no gap over ``max_gap_s``); it *clears* once readings back past the limit by
the hysteresis margin have lasted ``clear_duration_s``. Readings without sensor contact (or
missing, NaN) are ignored: they neither start nor clear anything. Evaluation is vectorised over
``(residents, readings)`` arrays; per-resident limits broadcast along the first axis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from analytics.errors import InputError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


class VitalKind(StrEnum):
    HR_LOW = "hr_low"
    HR_HIGH = "hr_high"
    SPO2_LOW = "spo2_low"


@dataclass(frozen=True, slots=True)
class VitalLimits:
    """Limits for one resident (bpm, %, seconds)."""

    hr_low: float = 40.0
    hr_high: float = 130.0
    spo2_low: float = 90.0
    hr_hysteresis: float = 5.0
    spo2_hysteresis: float = 2.0
    min_duration_s: float = 60.0
    clear_duration_s: float = 60.0
    max_gap_s: float = 120.0

    def override(self, **changes: float) -> VitalLimits:
        """A copy with some limits changed (per-resident overrides); unknown names raise."""
        known = {f.name for f in fields(self)}
        bad = set(changes) - known
        if bad:
            raise InputError(f"unknown vital limit(s): {sorted(bad)}")
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class VitalEvent:
    """A breach starting (``active``) or clearing; ``t_since`` is when its run of readings began,
    ``t`` when the duration condition was met (the event time)."""

    resident: int | str
    kind: VitalKind
    active: bool
    t: float
    t_since: float
    value: float


def limits_table(
    residents: Sequence[int | str],
    default: VitalLimits,
    overrides: Mapping[int | str, Mapping[str, float]] | None = None,
) -> list[VitalLimits]:
    """One :class:`VitalLimits` per resident: ``default`` with that resident's overrides."""
    over = overrides or {}
    return [default.override(**dict(over.get(r, {}))) for r in residents]


def _run_start(t: F64, member: B, valid: B, max_gap: F64) -> F64:
    """Time of the first reading of the run each valid ``member`` reading belongs to, NaN
    elsewhere. Invalid readings are skipped; a valid non-member reading, or more than
    ``max_gap`` seconds between consecutive valid readings, ends a run."""
    k, n = t.shape
    idx = np.broadcast_to(np.arange(n), (k, n))
    rows = np.arange(k)[:, None]
    last = np.maximum.accumulate(np.where(valid, idx, -1), axis=1)
    prev = np.concatenate([np.full((k, 1), -1), last[:, :-1]], axis=1)  # previous valid reading
    has_prev = prev >= 0
    pj = np.maximum(prev, 0)
    mv = member & valid
    prev_member = has_prev & mv[rows, pj]
    gap = has_prev & (t - t[rows, pj] > max_gap[:, None])
    start = mv & (~prev_member | gap)
    first = np.maximum.accumulate(np.where(start, idx, -1), axis=1)
    return np.where(mv & (first >= 0), t[rows, np.maximum(first, 0)], np.nan)


def _states(t: F64, bad: B, good: B, valid: B, lim: _Lim) -> tuple[B, F64, F64]:
    """Alarm state after each reading, and the run starts of bad and good readings."""
    k, n = t.shape
    bad_since = _run_start(t, bad, valid, lim.gap)
    good_since = _run_start(t, good, valid, lim.gap)
    enter = bad & valid & (t - bad_since >= lim.min_dur[:, None])
    leave = good & valid & (t - good_since >= lim.clear_dur[:, None])
    idx = np.broadcast_to(np.arange(n), (k, n))
    last_enter = np.maximum.accumulate(np.where(enter, idx, -1), axis=1)
    last_leave = np.maximum.accumulate(np.where(leave, idx, -1), axis=1)
    return last_enter > last_leave, bad_since, good_since


@dataclass(frozen=True, slots=True)
class _Lim:
    min_dur: F64
    clear_dur: F64
    gap: F64


def evaluate_vitals(
    t: npt.ArrayLike,
    hr: npt.ArrayLike,
    spo2: npt.ArrayLike,
    contact: npt.ArrayLike,
    limits: VitalLimits | Sequence[VitalLimits],
    residents: Sequence[int | str] | None = None,
) -> list[VitalEvent]:
    """Breach start / clear events for readings ``(residents, n)`` (1-D arrays: one resident).

    ``t`` in seconds, increasing along each row; ``hr`` / ``spo2`` NaN where not measured;
    ``contact`` False where the sensor was not on the skin (those readings are ignored).
    """
    tt, h, s, c = (np.atleast_2d(np.asarray(a, dtype=np.float64)) for a in (t, hr, spo2, contact))
    if not (tt.shape == h.shape == s.shape == c.shape):
        raise InputError(f"t, hr, spo2, contact differ in shape: {tt.shape} {h.shape} {s.shape}")
    k = tt.shape[0]
    table = [limits] * k if isinstance(limits, VitalLimits) else list(limits)
    if len(table) != k:
        raise InputError(f"{len(table)} limits for {k} residents")
    names = list(residents) if residents is not None else list(range(k))

    def col(name: str) -> F64:
        return np.array([getattr(x, name) for x in table], dtype=np.float64)[:, None]

    lim = _Lim(col("min_duration_s")[:, 0], col("clear_duration_s")[:, 0], col("max_gap_s")[:, 0])
    touch = c > 0.5
    out: list[VitalEvent] = []
    hv, sv = touch & np.isfinite(h), touch & np.isfinite(s)
    checks = (
        (VitalKind.HR_LOW, h, hv, h < col("hr_low"), h > col("hr_low") + col("hr_hysteresis")),
        (VitalKind.HR_HIGH, h, hv, h > col("hr_high"), h < col("hr_high") - col("hr_hysteresis")),
        (VitalKind.SPO2_LOW, s, sv, s < col("spo2_low"),
         s > col("spo2_low") + col("spo2_hysteresis")),
    )
    for kind, val, valid, bad, good in checks:
        state, bad_since, good_since = _states(tt, bad & valid, good & valid, valid, lim)
        prev = np.concatenate([np.zeros((k, 1), dtype=bool), state[:, :-1]], axis=1)
        for r, i in zip(*np.nonzero(state != prev), strict=True):
            since = bad_since[r, i] if state[r, i] else good_since[r, i]
            out.append(VitalEvent(names[r], kind, bool(state[r, i]), float(tt[r, i]),
                                  float(since), float(val[r, i])))
    out.sort(key=lambda e: (e.t, str(e.resident), e.kind.value))
    return out
