"""After a fall alert: did the person get up within the cancel window?

Per row, counts active samples (``||a| - 1 g| > active_g``) after the decision; "got up" is the
first sample at which enough activity has accrued while (if configured) the 1-s mean gravity
vector is back within ``tilt`` degrees of the pre-fall posture. At the deadline without that, the
outcome is "did not get up". All in absolute sample indices, so block boundaries do not matter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics.params import FallParams
from analytics.windows import Ring, sumsq

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Outcome:
    row: int
    impact: int  # absolute sample index of the impact
    sample: int  # absolute sample index of the resolution
    got_up: bool
    active_n: int


class GotUpTracker:
    """Pending falls per row and their resolution."""

    def __init__(self, params: FallParams, rows: int) -> None:
        fs = params.fs
        self.need = max(round(params.got_up_active_s * fs), 1)
        self.cancel = round(params.cancel_window_s * fs)
        self.avg = round(fs)
        self.active_g = params.active_g
        tilt = params.got_up_tilt_deg
        self.cos_tilt = -2.0 if tilt is None else float(np.cos(np.radians(tilt)))
        self.impact = np.full(0, -1, dtype=np.int64)
        self.start = np.zeros(0, dtype=np.int64)
        self.count = np.zeros(0, dtype=np.int64)
        self.seen = np.zeros(0, dtype=np.int64)
        self.up = np.zeros((0, 3))
        self.resize(rows)

    def resize(self, rows: int) -> None:
        extra = max(rows - len(self.impact), 0)
        self.impact = np.concatenate([self.impact, np.full(extra, -1, dtype=np.int64)])
        self.start = np.concatenate([self.start, np.zeros(extra, dtype=np.int64)])
        self.count = np.concatenate([self.count, np.zeros(extra, dtype=np.int64)])
        self.seen = np.concatenate([self.seen, np.zeros(extra, dtype=np.int64)])
        self.up = np.concatenate([self.up, np.zeros((extra, 3))])

    @property
    def pending(self) -> B:
        return np.asarray(self.impact >= 0)

    def begin(self, row: int, impact: int, decided: int, upright: F64) -> None:
        """Start watching ``row`` after a fall at ``impact`` decided at sample ``decided``."""
        self.impact[row] = impact
        self.start[row] = decided + 1
        self.seen[row] = decided + 1
        self.count[row] = 0
        self.up[row] = upright / max(float(np.linalg.norm(upright)), 1e-9)

    def drop(self, rows: I64) -> None:
        self.impact[rows] = -1

    def update(self, ring: Ring, rows: I64) -> list[Outcome]:
        """Advance the pending ones among ``rows`` over every sample they have not yet seen."""
        sel = rows[self.impact[rows] >= 0]
        if len(sel) == 0:
            return []
        begin = np.maximum(self.seen[sel], self.start[sel])
        end = ring.n[sel]
        m = int((end - begin).max(initial=0))
        if m <= 0:
            return []
        cols = ring.columns(sel, begin - self.avg, self.avg + m)
        acc = ring.take_acc(sel, cols).astype(np.float64)
        mag = np.sqrt(sumsq(acc[:, self.avg :]))
        idx = begin[:, None] + np.arange(m)[None, :]
        deadline = self.impact[sel, None] + self.cancel
        watch = (idx < end[:, None]) & (idx <= deadline)
        valid = ring.take_ok(sel, cols[:, self.avg :])
        act = watch & (np.abs(mag - 1.0) > self.active_g) & valid
        total = self.count[sel, None] + np.cumsum(act, axis=1)
        csum = np.cumsum(acc, axis=1)
        mean = csum[:, self.avg :] - csum[:, : -self.avg]
        cos = np.einsum("ijk,ik->ij", mean, self.up[sel]) / np.maximum(
            np.linalg.norm(mean, axis=2), 1e-9
        )
        done = watch & (total >= self.need) & (cos >= self.cos_tilt)
        expired = (idx == deadline) & (idx < end[:, None])
        self.seen[sel] = end
        return self._resolve(sel, idx, done, expired, total)

    def _resolve(self, sel: I64, idx: I64, done: B, expired: B, total: I64) -> list[Outcome]:
        out: list[Outcome] = []
        any_done: B = np.asarray(done.any(axis=1))
        any_exp: B = np.asarray(expired.any(axis=1))
        first_done, first_exp = done.argmax(axis=1), expired.argmax(axis=1)
        for i, row in enumerate(sel.tolist()):
            if any_done[i] and (not any_exp[i] or first_done[i] <= first_exp[i]):
                j, up = int(first_done[i]), True
            elif any_exp[i]:
                j, up = int(first_exp[i]), False
            else:
                self.count[row] = int(total[i, -1])
                continue
            out.append(Outcome(row, int(self.impact[row]), int(idx[i, j]), up, int(total[i, j])))
            self.impact[row] = -1
        return out
