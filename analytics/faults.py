"""Per-sample sensor-fault flags with carried state, and fault start/end transitions.

Checks run on the input samples of a block ``(k, n, 3)`` in g:

- ``nan``: a non-finite component (the sample is replaced by the last finite one);
- ``all_zero``: an exact (0, 0, 0) sample (a dead sensor reads 1 g at rest, never 0);
- ``flatline``: |a|² bit-identical for ``flatline_s`` (real data: < 0.6 s);
- ``clipping``: a component at the rail for ``clip_run_s`` (one clipped impact is not a fault).

A flagged sample is invalid for the fall detector (no window containing it is judged). A fault is
*active* while a flagged sample lies within the last ``CLEAR_S`` seconds, so intermittent trouble
gives one start and one end. Row-level reductions pick the few rows that need per-sample work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics.events import FaultKind
from analytics.params import FaultParams
from analytics.windows import run_lengths, sumsq

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

CLEAR_S = 5.0
KINDS = (FaultKind.NAN, FaultKind.ALL_ZERO, FaultKind.FLATLINE, FaultKind.CLIPPING)


@dataclass(frozen=True, slots=True)
class Transition:
    row: int  # index into the call's rows
    sample: int  # index within the block
    kind: FaultKind
    active: bool


Flags = tuple[I64, B]  # rows (indices into the call's rows) and their per-sample flags


@dataclass(frozen=True, slots=True)
class Checked:
    """A checked block: cleaned samples, their |a|² (and per-row max), the rows holding invalid
    samples with those rows' validity, and fault transitions."""

    x: F32
    s2: F32
    s2max: F32
    bad: I64
    bad_ok: B
    transitions: list[Transition]

    def ok(self) -> B:
        """Validity of every sample (dense)."""
        out = np.ones(self.s2.shape, dtype=bool)
        out[self.bad] = self.bad_ok
        return out


def _sparse(idx: I64, flag: B) -> Flags | None:
    keep = flag.any(axis=1)
    return (idx[keep], flag[keep]) if keep.any() else None


def _combine(flags: list[Flags | None], n: int) -> tuple[I64, B]:
    present = [f for f in flags if f is not None]
    if not present:
        return np.zeros(0, dtype=np.int64), np.zeros((0, n), dtype=bool)
    bad = np.unique(np.concatenate([idx for idx, _ in present]))
    ok = np.ones((len(bad), n), dtype=bool)
    for idx, flag in present:
        ok[np.searchsorted(bad, idx)] &= ~flag
    return bad, ok


class FaultTracker:
    """Flags NaN, all-zero, flatline and clipping samples per row, carrying runs across calls."""

    def __init__(self, params: FaultParams, fs: float, rows: int) -> None:
        self.params = params
        self.flat_n = max(round(params.flatline_s * fs), 2)
        self.clip_n = max(round(params.clip_run_s * fs), 1)
        self.clear_n = max(round(CLEAR_S * fs), 1)
        self.rail = 0.995 * params.full_scale_g
        self.hold = np.zeros((0, 3))
        self.prev_s2 = np.zeros(0)
        self.fresh = np.zeros(0, dtype=bool)
        self.flat_run = np.zeros(0, dtype=np.int64)
        self.clip_run = np.zeros(0, dtype=np.int64)
        self.quiet = np.zeros((len(KINDS), 0), dtype=np.int64)
        self.counts = dict.fromkeys(KINDS, 0)
        self.resize(rows)

    def resize(self, rows: int) -> None:
        extra = max(rows - len(self.flat_run), 0)
        self.hold = np.concatenate([self.hold, np.tile([0.0, 0.0, 1.0], (extra, 1))])
        self.prev_s2 = np.concatenate([self.prev_s2, np.full(extra, np.nan)])
        self.fresh = np.concatenate([self.fresh, np.ones(extra, dtype=bool)])
        self.flat_run = np.concatenate([self.flat_run, np.zeros(extra, dtype=np.int64)])
        self.clip_run = np.concatenate([self.clip_run, np.zeros(extra, dtype=np.int64)])
        fresh = np.full((len(KINDS), extra), self.clear_n, dtype=np.int64)
        self.quiet = np.concatenate([self.quiet, fresh], axis=1)

    def reset(self, rows: I64) -> None:
        """Forget sample history (a new stream); active faults stay active until they clear."""
        self.flat_run[rows] = 0
        self.clip_run[rows] = 0
        self.prev_s2[rows] = np.nan
        self.fresh[rows] = True

    def check(self, x: F32, rows: I64) -> Checked:
        """Flag the samples of block ``x`` (k, n, 3) of ``rows`` (see module doc). Row-level
        reductions find the few rows that need per-sample work."""
        n = x.shape[1]
        s2 = sumsq(x)
        s2max = s2.max(axis=1)
        flags: list[Flags | None] = [None, None, None, None]
        nan_idx = np.flatnonzero(~np.isfinite(s2max))
        if nan_idx.size:
            x, nan_sub = self._hold_last(x, s2, rows, nan_idx)
            s2max[nan_idx] = s2[nan_idx].max(axis=1)
            flags[0] = (nan_idx, nan_sub)
        self.hold[rows] = x[:, -1]
        self.fresh[rows] = False
        zero_idx = np.flatnonzero(s2.min(axis=1) == 0.0)
        if zero_idx.size:
            flags[1] = (zero_idx, s2[zero_idx] == 0.0)
        flags[2] = self._flatline(s2, rows)
        clip_idx = np.flatnonzero((s2max >= self.rail**2) | (self.clip_run[rows] > 0))
        if clip_idx.size:
            flags[3] = self._clipping(x, rows, clip_idx)
        bad, bad_ok = _combine(flags, n)
        return Checked(x, s2, s2max, bad, bad_ok, self._transitions(flags, rows, n))

    def _hold_last(self, x: F32, s2: F32, rows: I64, idx: I64) -> tuple[F32, B]:
        """Replace non-finite samples of rows ``idx`` by the last finite one (``s2`` in place;
        ``x`` is copied, never the caller's array changed)."""
        x = x.copy()
        sub = x[idx]
        nan_sub = ~np.isfinite(s2[idx])
        n = sub.shape[1]
        src = np.maximum.accumulate(np.where(nan_sub, -1, np.arange(n)[None, :]), axis=1)
        ext = np.concatenate([self.hold[rows[idx]][:, None, :], sub], axis=1)
        x[idx] = ext[np.arange(len(sub))[:, None], src + 1]
        s2[idx] = sumsq(x[idx])
        return x, nan_sub

    def _flatline(self, s2: F32, rows: I64) -> Flags | None:
        same = np.empty(s2.shape, dtype=bool)
        same[:, 0] = s2[:, 0] == self.prev_s2[rows]
        np.equal(s2[:, 1:], s2[:, :-1], out=same[:, 1:])
        self.prev_s2[rows] = s2[:, -1]
        carry = self.flat_run[rows]
        n = s2.shape[1]
        deep = carry + n >= self.flat_n - 1  # only these can reach a flatline in this block
        if deep.any():
            deep[deep] = carry[deep] + same[deep].sum(axis=1) >= self.flat_n - 1
        tail = np.zeros(len(rows), dtype=np.int64)
        ends = same[:, -1] & ~deep
        if ends.any():
            sub = same[ends]
            back = np.argmin(sub[:, ::-1], axis=1)
            tail[ends] = np.where(sub.all(axis=1), carry[ends] + n, back)
        flags = None
        if deep.any():
            run, tail[deep] = run_lengths(same[deep], carry[deep])
            flags = _sparse(np.flatnonzero(deep), run >= self.flat_n - 1)
        self.flat_run[rows] = tail
        return flags

    def _clipping(self, x: F32, rows: I64, idx: I64) -> Flags | None:
        rail: B = np.asarray((np.abs(x[idx]) >= self.rail).any(axis=2))
        run, self.clip_run[rows[idx]] = run_lengths(rail, self.clip_run[rows[idx]])
        return _sparse(idx, run >= self.clip_n)

    def _transitions(self, flags: list[Flags | None], rows: I64, n: int) -> list[Transition]:
        out: list[Transition] = []
        for i, (kind, fl) in enumerate(zip(KINDS, flags, strict=True)):
            before = self.quiet[i, rows]
            q = np.minimum(before + n, self.clear_n)
            fresh_idx = np.zeros(0, dtype=np.int64) if fl is None else fl[0]
            busy = np.union1d(np.flatnonzero(before < self.clear_n), fresh_idx)
            if busy.size:
                f = np.zeros((len(busy), n), dtype=bool)
                if fl is not None:
                    f[np.searchsorted(busy, fl[0])] = fl[1]
                    self.counts[kind] += int(fl[1].sum())
                out += self._changes(kind, busy, f, before[busy])
                q[busy] = np.minimum(run_lengths(~f, before[busy])[1], self.clear_n)
            self.quiet[i, rows] = q
        return out

    def _changes(self, kind: FaultKind, busy: I64, f: B, before: I64) -> list[Transition]:
        quiet, _ = run_lengths(~f, before)
        active = quiet < self.clear_n
        was = np.concatenate([(before < self.clear_n)[:, None], active[:, :-1]], axis=1)
        rr, ss = np.nonzero(active != was)
        return [
            Transition(int(busy[r]), int(s), kind, bool(active[r, s]))
            for r, s in zip(rr.tolist(), ss.tolist(), strict=True)
        ]
