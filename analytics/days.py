"""False alarms per wearer-day: each wearer's ADL trials joined into one continuous stream.

A lab's ADL trials are short (12-180 s) and each starts from a still history; a wearer wears the
device all day. Joining a subject's ADL trials end to end (with a short blend so the seams are no
impacts) and running the detector over the whole stream counts alerts as a day would (one per
refractory time), and dividing by the stream's length in :data:`DAY_HOURS`-hour days gives false
alarms per wearer-day beside false alarms per hour. The lab's ADLs are far denser in jumps,
jogging, table hits and clapping than a day at home, so this is a pessimistic figure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kernel.placement import Placement

F64 = npt.NDArray[np.float64]

DAY_HOURS = 16.0  # waking hours a wearable is worn
BLEND_S = 2.0


def blend(a: F64, b: F64, n: int) -> F64:
    """``n`` samples turning from ``a`` to ``b`` (3-vectors) with the magnitude interpolated,
    so the direction turns smoothly and |a| never dips (no fake free fall at a seam)."""
    w = (np.arange(1, n + 1) / (n + 1))[:, None]
    v = (1 - w) * a + w * b
    mag = (1 - w) * np.linalg.norm(a) + w * np.linalg.norm(b)
    norm = np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
    fallback = np.where(w < 0.5, a, b)  # a and b opposite: keep the nearer end's direction
    return np.asarray(np.where(norm > 1e-6, v / norm * mag, fallback))


def join(recordings: Sequence[F64], fs: float, blend_s: float = BLEND_S) -> F64:
    """Recordings ``(n_i, 3)`` end to end with ``blend_s`` seconds of blend between them."""
    parts: list[F64] = []
    n = max(round(blend_s * fs), 0)
    for r in recordings:
        if len(r) == 0:
            continue
        if parts and n:
            parts.append(blend(parts[-1][-1], r[0], n))
        parts.append(np.asarray(r, dtype=np.float64))
    return np.concatenate(parts) if parts else np.zeros((0, 3))


@dataclass(frozen=True, slots=True)
class WearerStream:
    """One wearer's joined ADLs and the alerts the detector raised on them."""

    dataset: str
    placement: Placement
    subject: str
    hours: float
    alerts: int


@dataclass(frozen=True, slots=True)
class DayResult:
    dataset: str
    placement: Placement
    wearers: int
    hours: float
    days: float  # hours / DAY_HOURS
    alerts: int
    false_alarms_per_day: float | None
    false_alarms_per_hour: float | None
    wearers_with_alerts: int


def summarise_days(streams: Iterable[WearerStream]) -> list[DayResult]:
    """Per dataset and placement: alerts per wearer-day and per hour of joined ADLs."""
    groups: dict[tuple[str, Placement], list[WearerStream]] = {}
    for s in streams:
        groups.setdefault((s.dataset, s.placement), []).append(s)
    out = []
    for (ds, pl), g in sorted(groups.items()):
        hours = sum(s.hours for s in g)
        alerts = sum(s.alerts for s in g)
        out.append(DayResult(
            ds, pl, len(g), round(hours, 4), round(hours / DAY_HOURS, 4), alerts,
            alerts / (hours / DAY_HOURS) if hours > 0 else None,
            alerts / hours if hours > 0 else None,
            sum(1 for s in g if s.alerts),
        ))
    return out


def format_days(results: Sequence[DayResult]) -> str:
    head = "dataset     placement  wearers  hours   days  alerts  FA/wearer-day  FA/h"
    lines = [head]
    for r in results:
        per_day = "   -  " if r.false_alarms_per_day is None else f"{r.false_alarms_per_day:6.2f}"
        per_h = "  -  " if r.false_alarms_per_hour is None else f"{r.false_alarms_per_hour:5.2f}"
        lines.append(f"{r.dataset:<11} {r.placement:<9} {r.wearers:7d} {r.hours:6.2f} "
                     f"{r.days:6.3f} {r.alerts:6d}  {per_day:>13}  {per_h}")
    return "\n".join(lines)
