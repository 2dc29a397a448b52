"""The batched, streaming fall detector.

``FallDetector.process(block, t0)`` takes ``(devices, samples, 3)`` in g at ``fs_in`` and returns
events. Per call, with no loop over samples:

1. sensor-fault flags (NaN, all-zero, flatline, sustained clipping) and continuity of ``t0``;
2. resampling to the common rate (anti-alias ``sosfilt`` with carried ``zi`` above it,
   band-limited Lanczos interpolation below it);
3. samples go into per-row ring buffers; rows with a sample above ``candidate_g`` are searched
   for local maxima of |a| (±``half_window_s``) whose ``post_s`` of aftermath has now arrived;
4. physics features of each candidate window (:mod:`analytics.features`) are scored by a small
   boosted-tree model; a score over ``alert_threshold`` is a fall (one per ``refractory_s``);
5. pending falls are watched for "got up" (:mod:`analytics.gotup`).

Every decision depends on absolute sample indices only, so any split of a stream into blocks
gives the same events as one long array.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from analytics import features as feat
from analytics.errors import InputError
from analytics.events import (
    DetectorEvent,
    DeviceKey,
    FallEvent,
    FallResolved,
    FaultKind,
    SensorFault,
)
from analytics.faults import FaultTracker, Transition
from analytics.gotup import GotUpTracker, Outcome
from analytics.params import FallParams, FaultParams, load_params
from analytics.windows import Ring, StreamResampler, local_peaks, sumsq
from kernel.placement import Placement

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
FA = npt.NDArray[np.floating[Any]]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

def checked_placement(value: Placement) -> Placement:
    """``value`` as a member (a caller without types may pass its string); InputError if none."""
    try:
        return Placement(value)
    except ValueError:
        raise InputError(f"placement must be one of {[str(p) for p in Placement]}, "
                         f"got {value!r}") from None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A judged candidate impact (kept only when ``keep_candidates`` is on, for fitting)."""

    row: int
    impact: int
    t_impact: float
    t_decision: float
    score: float
    features: F64


@dataclass(slots=True)
class Counters:
    blocks: int = 0
    samples: int = 0
    candidates: int = 0
    rejected_invalid: int = 0
    alerts: int = 0
    suppressed: int = 0
    gaps: int = 0
    faults: dict[str, int] = field(default_factory=dict)


class FallDetector:
    """Fall detection over ``n_devices`` rows streaming at ``fs_in`` Hz (see module doc)."""

    def __init__(
        self,
        placement: Placement,
        fs_in: float,
        n_devices: int,
        params: FallParams | None = None,
        faults: FaultParams | None = None,
        max_block_s: float = 2.0,
        keep_candidates: bool = False,
    ) -> None:
        placement = checked_placement(placement)
        self.params = params if params is not None else load_params(placement)
        if self.params.placement != placement:
            raise InputError(f"{self.params.placement} parameters given for {placement}")
        self.placement: Placement = placement
        self.fs_in = float(fs_in)
        p = self.params
        self.fault_params = faults if faults is not None else FaultParams()
        self.layout = feat.WindowLayout.from_seconds(p.fs, p.pre_s, p.post_s)
        self.h = max(round(p.half_window_s * p.fs), 1)
        self.lag = max(self.layout.post, self.h)
        self.refractory = round(p.refractory_s * p.fs)
        self.forest = p.model.build()
        self.resampler = StreamResampler(self.fs_in, p.fs, 0)
        # the decision needs the aftermath, plus the up-sampler's look-ahead below 50 Hz
        self.decision_s = self.lag / p.fs + self.resampler.delay_s
        # at most one alert per row per chunk: chunks shorter than the refractory time
        block_s = min(max_block_s, 0.5 * p.refractory_s)
        self.chunk_in = max(int(block_s * self.fs_in), 1)
        out_max = int(np.ceil(self.chunk_in * p.fs / self.fs_in)) + 2
        self.ring = Ring(0, out_max + self.lag + self.h + self.layout.pre + 8)
        self.tracker = FaultTracker(self.fault_params, self.fs_in, 0)
        self.gotup = GotUpTracker(p, 0)
        self.keep_candidates = keep_candidates
        self.candidates: list[Candidate] = []
        self.counters = Counters()
        self.keys: list[DeviceKey] = []
        self.anchor = np.zeros(0)
        self.fresh = np.zeros(0, dtype=bool)
        self.last_hot = np.zeros(0, dtype=np.int64)
        self.last_alert = np.zeros(0, dtype=np.int64)
        self.resize(n_devices)

    # ------------------------------------------------------------------ rows

    @property
    def n_devices(self) -> int:
        return len(self.keys)

    def resize(self, n_devices: int) -> None:
        """Grow to ``n_devices`` rows (new rows are fresh streams keyed by their index)."""
        old = self.n_devices
        if n_devices <= old:
            return
        extra = n_devices - old
        self.keys += list(range(old, n_devices))
        for part in (self.resampler, self.ring, self.tracker, self.gotup):
            part.resize(n_devices)
        self.anchor = np.concatenate([self.anchor, np.zeros(extra)])
        self.fresh = np.concatenate([self.fresh, np.ones(extra, dtype=bool)])
        self.last_hot = np.concatenate([self.last_hot, np.full(extra, -(2**40), dtype=np.int64)])
        self.last_alert = np.concatenate(
            [self.last_alert, np.full(extra, -(2**40), dtype=np.int64)]
        )

    def reset(self, rows: I64 | list[int]) -> None:
        """Make ``rows`` fresh streams (a new device, or a break in the data)."""
        r = np.asarray(rows, dtype=np.int64)
        self.fresh[r] = True
        self.resampler.reset(r)
        self.tracker.reset(r)
        self.gotup.drop(r)
        self.last_hot[r] = -(2**40)
        self.last_alert[r] = -(2**40)

    # --------------------------------------------------------------- process

    def process(
        self, block: npt.ArrayLike, t0: float | npt.ArrayLike, rows: npt.ArrayLike | None = None
    ) -> list[DetectorEvent]:
        """Feed one block per row: ``block`` (k, n, 3) in g, ``t0`` time of its first sample
        (scalar or (k,)), ``rows`` the detector rows it belongs to (default: all, in order)."""
        x, t, r = self._check(block, t0, rows)
        events: list[DetectorEvent] = []
        for s in range(0, x.shape[1], self.chunk_in):
            chunk = x[:, s : s + self.chunk_in]
            events += self._step(chunk, t + s / self.fs_in, r)
        self.counters.blocks += 1
        self.counters.samples += x.shape[0] * x.shape[1]
        return events

    def _check(
        self, block: npt.ArrayLike, t0: float | npt.ArrayLike, rows: npt.ArrayLike | None
    ) -> tuple[F32, F64, I64]:
        x = np.asarray(block, dtype=np.float32)  # one sample type everywhere: edge == server
        if rows is None:
            r = np.arange(self.n_devices, dtype=np.int64)
        else:
            r = np.asarray(rows, dtype=np.int64).reshape(-1)
            if r.size and (r.min() < 0 or r.max() >= self.n_devices):
                raise InputError(f"rows outside 0..{self.n_devices - 1}")
            if len(np.unique(r)) != len(r):
                raise InputError("a row appears twice in one call")
        if x.ndim != 3 or x.shape[0] != len(r) or x.shape[2] != 3:
            raise InputError(f"block of shape {x.shape}, expected ({len(r)}, samples, 3)")
        t = np.broadcast_to(np.asarray(t0, dtype=np.float64), (len(r),)).copy()
        if not np.isfinite(t).all():
            raise InputError("t0 must be finite")
        return x, t, r

    def _step(self, x: F32, t0: F64, rows: I64) -> list[DetectorEvent]:
        events = self._continuity(t0, rows)
        chk = self.tracker.check(x, rows)
        events += self._fault_events(chk.transitions, rows, t0)
        fresh = rows[self.fresh[rows]]
        self.anchor[rows] = t0 - self.resampler.n_in[rows] / self.fs_in
        if self.resampler.passthrough:
            first = self.resampler.n_out[rows].copy()
            self.resampler.skip(rows, x.shape[1])
            if len(fresh):
                self._start(rows, chk.x[:, 0], np.ones(len(rows), dtype=bool))
            return events + self._core(chk.x, chk.s2, chk.bad, chk.bad_ok, rows, first,
                                       chk.s2max)
        y, y_ok, counts, first = self.resampler.process(chk.x, chk.ok(), rows)
        if len(fresh):
            self._start(rows, y[:, 0] if y.shape[1] else y[:, :0].sum(axis=1), counts > 0)
        for m in np.unique(counts).tolist():
            g = counts == m
            yg = y[g, :m].astype(np.float32)
            okg = y_ok[g, :m]
            bad = np.flatnonzero(~okg.all(axis=1))
            events += self._core(yg, sumsq(yg), bad, okg[bad], rows[g], first[g])
        return events

    def _start(self, rows: I64, first_sample: FA, has: B) -> None:
        """Fill the history of fresh rows that got their first output sample."""
        sel = self.fresh[rows] & has
        if sel.any():
            self.ring.fill(rows[sel], first_sample[sel])
            self.fresh[rows[sel]] = False

    def _continuity(self, t0: F64, rows: I64) -> list[DetectorEvent]:
        live = ~self.fresh[rows]
        expected = self.anchor[rows] + self.resampler.n_in[rows] / self.fs_in
        jump = live & (np.abs(t0 - expected) > self.fault_params.gap_tolerance_s)
        if not jump.any():
            return []
        bad = rows[jump]
        self.counters.gaps += len(bad)
        self.reset(bad)
        return [
            SensorFault(self.keys[r], float(t), FaultKind.GAP, True, f"{float(t - e):+.3f} s")
            for r, t, e in zip(bad.tolist(), t0[jump], expected[jump], strict=True)
        ]

    def _fault_events(self, trs: list[Transition], rows: I64, t0: F64) -> list[DetectorEvent]:
        out: list[DetectorEvent] = []
        for tr in trs:
            row = int(rows[tr.row])
            key = tr.kind.value
            if tr.active:
                self.counters.faults[key] = self.counters.faults.get(key, 0) + 1
            t = float(t0[tr.row] + tr.sample / self.fs_in)
            out.append(SensorFault(self.keys[row], t, tr.kind, tr.active))
        return out

    # ----------------------------------------------------------------- core

    def _core(
        self, y: F32, s2: F32, bad: I64, bad_ok: B, rows: I64, first: I64,
        s2max: F32 | None = None,
    ) -> list[DetectorEvent]:
        m = y.shape[1]
        if m == 0 or len(rows) == 0:
            return []
        self.ring.write(rows, y, s2, bad, bad_ok)
        thr2 = self.params.candidate_g**2
        hot = (s2max if s2max is not None else s2.max(axis=1)) >= thr2
        if hot.any():
            last = m - 1 - np.argmax(s2[hot, ::-1] >= thr2, axis=1)
            self.last_hot[rows[hot]] = first[hot] + last
        # pending falls resolve before new ones may begin, then new ones see the rest of the block
        events: list[DetectorEvent] = [self._resolved(o)
                                       for o in self.gotup.update(self.ring, rows)]
        events += self._judge(rows, first, m)
        events += [self._resolved(o) for o in self.gotup.update(self.ring, rows)]
        return events

    def _judge(self, rows: I64, first: I64, m: int) -> list[DetectorEvent]:
        lo = first - self.lag  # centres lo .. lo+m-1 have their aftermath now
        look = self.last_hot[rows] >= lo
        if not look.any():
            return []
        r, lo = rows[look], lo[look]
        width = m + 2 * self.h
        cols = self.ring.columns(r, lo - self.h, width)
        ii, cc = local_peaks(self.ring.take_s2(r, cols), self.h, self.params.candidate_g**2)
        centre = lo[ii] + cc
        started = centre >= 0
        if not started.any():
            return []
        return self._score(r[ii][started], centre[started])

    def _score(self, rows: I64, centre: I64) -> list[DetectorEvent]:
        lay = self.layout
        cols = self.ring.columns(rows, centre - lay.pre, lay.width)
        valid = self.ring.take_ok(rows, cols).all(axis=1)
        self.counters.candidates += len(rows)
        self.counters.rejected_invalid += int((~valid).sum())
        rows, centre, cols = rows[valid], centre[valid], cols[valid]
        if len(rows) == 0:
            return []
        win = self.ring.take_acc(rows, cols).astype(np.float64)
        fx = feat.compute(win, lay, self.params.features, self.fs_in)
        score = self.forest.decision(fx)
        t_imp = self.anchor[rows] + centre / self.params.fs
        if self.keep_candidates:
            self.candidates += [
                Candidate(int(a), int(b), float(c), float(c) + self.decision_s, float(d), e)
                for a, b, c, d, e in zip(rows, centre, t_imp, score, fx, strict=True)
            ]
        hit = np.nonzero(score >= self.params.alert_threshold)[0]
        before = lay.span(-lay.pre / lay.fs, -1.0)
        return [self._alert(int(rows[i]), int(centre[i]), float(score[i]), fx[i],
                            win[i, before].mean(axis=0))
                for i in hit if self._may_alert(int(rows[i]), int(centre[i]))]

    def _may_alert(self, row: int, centre: int) -> bool:
        if centre - self.last_alert[row] < self.refractory:
            self.counters.suppressed += 1
            return False
        return True

    def _alert(self, row: int, centre: int, score: float, fx: F64, pre: F64) -> FallEvent:
        self.counters.alerts += 1
        self.last_alert[row] = centre
        self.gotup.begin(row, centre, centre + self.lag, pre)
        fs = self.params.fs
        t = float(self.anchor[row] + centre / fs)
        conf = float(1.0 / (1.0 + np.exp(-score)))
        names = self.params.features
        values = {n: round(float(v), 4) for n, v in zip(names, fx, strict=True)}
        return FallEvent(self.keys[row], t, t + self.decision_s, self.placement, conf, values)

    def _resolved(self, o: Outcome) -> FallResolved:
        fs = self.params.fs
        return FallResolved(
            self.keys[o.row],
            float(self.anchor[o.row] + o.impact / fs),
            float(self.anchor[o.row] + o.sample / fs),
            o.got_up,
            o.active_n / fs,
        )

    def stats(self) -> dict[str, Any]:
        c = self.counters
        return {
            "blocks": c.blocks, "samples": c.samples, "candidates": c.candidates,
            "rejected_invalid": c.rejected_invalid, "alerts": c.alerts,
            "suppressed": c.suppressed, "gaps": c.gaps, "faults": dict(c.faults),
        }
