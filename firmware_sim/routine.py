"""A resident's day: which room they are in and what they are doing, as time segments.

Times are seconds since midnight of the simulated day (0 .. 86400).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final

from firmware_sim.errors import ScenarioError

DAY: Final = 86_400.0
OUT: Final = "out"  # the room name for "not at home"
_CLOCK: Final = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?")


class Activity(StrEnum):
    SLEEPING = "sleeping"
    LYING = "lying"
    SITTING = "sitting"
    STANDING = "standing"
    WALKING = "walking"


def parse_clock(text: str) -> float:
    """``"HH:MM"`` or ``"HH:MM:SS"`` (00:00 .. 24:00) → seconds since midnight."""
    m = _CLOCK.fullmatch(text.strip())
    if not m:
        raise ScenarioError(f"clock time {text!r} is not HH:MM or HH:MM:SS")
    h, mi, s = int(m.group(1)), int(m.group(2)), float(m.group(3) or 0)
    t = h * 3600 + mi * 60 + s
    if mi > 59 or s >= 60 or t > DAY:
        raise ScenarioError(f"clock time {text!r} is not between 00:00 and 24:00")
    return t


def format_clock(t: float) -> str:
    """Seconds since midnight → ``"HH:MM:SS"``."""
    whole = int(t)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


@dataclass(frozen=True, slots=True)
class Segment:
    """From ``start`` on, the resident is in ``room`` doing ``activity``.

    ``still`` marks time when nothing a PIR could see happens (a quiet spell, lying after a fall).
    """

    start: float
    room: str
    activity: Activity
    still: bool = False


class Timeline:
    """Contiguous segments covering the whole day; immutable."""

    def __init__(self, segments: Sequence[Segment]) -> None:
        if not segments or segments[0].start != 0.0:
            raise ScenarioError("a timeline must start at 00:00")
        starts = [s.start for s in segments]
        if starts != sorted(set(starts)):
            raise ScenarioError("timeline segments must have distinct, increasing start times")
        self.segments: tuple[Segment, ...] = tuple(segments)
        self._starts = starts

    @classmethod
    def from_routine(cls, entries: Sequence[tuple[float, str, Activity]]) -> Timeline:
        """Build from ``(start, room, activity)`` entries; the last one wraps round midnight."""
        if not entries:
            raise ScenarioError("a routine needs at least one entry")
        ordered = sorted(entries, key=lambda e: e[0])
        segments = [Segment(t, room, act) for t, room, act in ordered if t < DAY]
        if segments[0].start > 0:
            _, room, act = ordered[-1]
            segments.insert(0, Segment(0.0, room, act))
        return cls(segments)

    def at(self, t: float) -> Segment:
        """The segment in effect at ``t``."""
        return self.segments[max(bisect.bisect_right(self._starts, t) - 1, 0)]

    def end_of(self, segment: Segment) -> float:
        """When ``segment`` ends (the next start, or the end of the day)."""
        i = self._starts.index(segment.start)
        return self._starts[i + 1] if i + 1 < len(self._starts) else DAY

    def between(self, t0: float, t1: float) -> list[tuple[float, float, Segment]]:
        """``(start, end, segment)`` clipped to ``[t0, t1)``."""
        out = []
        for seg in self.segments:
            s, e = max(seg.start, t0), min(self.end_of(seg), t1)
            if s < e:
                out.append((s, e, seg))
        return out

    def override(self, t0: float, t1: float, *, activity: Activity | None = None,
                 still: bool = True) -> Timeline:
        """A copy where ``[t0, t1)`` keeps its rooms but has ``activity`` (if given) and
        ``still``."""
        kept = [s for s in self.segments if not t0 <= s.start < t1]
        inside = [replace(s, start=max(s.start, t0)) for _, _, s in self.between(t0, t1)]
        changed = [replace(s, activity=activity or s.activity, still=still) for s in inside]
        after = [] if t1 >= DAY else [replace(self.at(t1), start=t1)]
        merged = {s.start: s for s in [*kept, *changed, *after]}
        return Timeline([merged[k] for k in sorted(merged)])
