"""Shared streaming building blocks: resampling with carried state, per-row ring buffers,
run lengths and local maxima. Arrays are ``(rows, samples[, 3])``; no loop over samples.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal

from analytics.errors import InputError

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
FA = npt.NDArray[np.floating[Any]]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

ANTI_ALIAS_ORDER = 4
ANTI_ALIAS_FRACTION = 0.4  # cut-off as a fraction of the output rate (20 Hz for 50 Hz)
LANCZOS_A = 3  # up-sampling kernel half-width in input samples (its look-ahead)


def rate_ratio(fs_in: float, fs_out: float) -> tuple[int, int]:
    """``fs_in / fs_out`` as a small exact fraction ``p / q``."""
    if not (np.isfinite(fs_in) and fs_in > 0 and fs_out > 0):
        raise InputError(f"sample rate must be a positive number, got {fs_in}")
    r = (Fraction(fs_in).limit_denominator(1000) / Fraction(fs_out).limit_denominator(1000))
    r = r.limit_denominator(1000)
    return r.numerator, r.denominator


def lanczos_table(p: int, q: int, a: int = LANCZOS_A) -> F64:
    """Polyphase Lanczos-``a`` weights ``(q, 2a)`` for output positions ``j * p / q``.

    Row ``phase`` weighs inputs ``i0 - a + 1 .. i0 + a`` around the position ``i0 + phase / q``;
    rows sum to 1 (gravity passes exactly) and phase 0 is the input sample itself.
    """
    frac = np.arange(q)[:, None] / q
    d = frac + (a - 1) - np.arange(2 * a)[None, :]  # distance from each tap to the position
    w = np.sinc(d) * np.sinc(d / a)
    return np.asarray(w / w.sum(axis=1, keepdims=True), dtype=np.float64)


class StreamResampler:
    """Per-row streaming resampler from ``fs_in`` to ``fs_out``.

    Above the output rate a Butterworth anti-alias low-pass runs first (``sosfilt`` with carried
    ``zi``); then output sample ``j`` is interpolated linearly at input position ``j * p / q``.
    Below it (e.g. a 20-Hz wearable) output ``j`` is band-limited (Lanczos-3) interpolation at
    ``j * p / q`` from the 6 nearest inputs, so it waits for ``LANCZOS_A`` inputs after that
    position (``delay_s``). Exact integer arithmetic: any split of the input gives the same
    output. Rows advance independently; a call returns per-row counts because rows may sit at
    different phases.
    """

    def __init__(self, fs_in: float, fs_out: float, rows: int) -> None:
        self.p, self.q = rate_ratio(fs_in, fs_out)
        self.passthrough = self.p == self.q
        self.sos: F64 | None = None
        if fs_in > fs_out * 1.01:
            sos = signal.butter(
                ANTI_ALIAS_ORDER, ANTI_ALIAS_FRACTION * fs_out, fs=fs_in, output="sos"
            )
            self.sos = np.asarray(sos, dtype=np.float64)
            self._zi_unit = np.asarray(signal.sosfilt_zi(self.sos), dtype=np.float64)
        self.zi = np.zeros((0 if self.sos is None else len(self.sos), 0, 2, 3))
        self.upsampling = self.p < self.q
        self.taps = lanczos_table(self.p, self.q) if self.upsampling else np.zeros((0, 0))
        span = self.taps.shape[1]
        self.delay_s = LANCZOS_A / fs_in if self.upsampling else 0.0
        self.hist = np.zeros((0, span, 3))
        self.hist_ok = np.zeros((0, span), dtype=bool)
        self.last = np.zeros((0, 3))
        self.last_ok = np.zeros(0, dtype=bool)
        self.n_in = np.zeros(0, dtype=np.int64)
        self.n_out = np.zeros(0, dtype=np.int64)
        self.resize(rows)

    def resize(self, rows: int) -> None:
        """Grow (or keep) the number of rows; new rows start fresh."""
        old = len(self.n_in)
        extra = max(rows - old, 0)
        self.zi = np.concatenate([self.zi, np.zeros((self.zi.shape[0], extra, 2, 3))], axis=1)
        span = self.hist.shape[1]
        self.hist = np.concatenate([self.hist, np.zeros((extra, span, 3))])
        self.hist_ok = np.concatenate([self.hist_ok, np.ones((extra, span), dtype=bool)])
        self.last = np.concatenate([self.last, np.zeros((extra, 3))])
        self.last_ok = np.concatenate([self.last_ok, np.ones(extra, dtype=bool)])
        self.n_in = np.concatenate([self.n_in, np.zeros(extra, dtype=np.int64)])
        self.n_out = np.concatenate([self.n_out, np.zeros(extra, dtype=np.int64)])

    def reset(self, rows: I64) -> None:
        self.n_in[rows] = 0
        self.n_out[rows] = 0
        self.last_ok[rows] = True

    def skip(self, rows: I64, n: int) -> None:
        """Count ``n`` samples through a passthrough resampler (the caller keeps them as-is)."""
        self.n_in[rows] += n
        self.n_out[rows] += n

    def _filter(self, x: FA, rows: I64) -> FA:
        if self.sos is None:
            return x
        fresh = self.n_in[rows] == 0
        zi = self.zi[:, rows]
        if fresh.any():
            zi[:, fresh] = self._zi_unit[:, None, :, None] * x[fresh, 0][None, :, None, :]
        y, zf = signal.sosfilt(self.sos, x, axis=1, zi=zi)
        self.zi[:, rows] = zf
        return np.asarray(y, dtype=np.float64)

    def process(self, x: FA, ok: B, rows: I64) -> tuple[FA, B, I64, I64]:
        """Resample ``x`` (k, n, 3) with validity ``ok`` (k, n) for ``rows``.

        Returns ``(y, y_ok, counts, first)``: outputs padded to the longest row, per-row output
        counts, and each row's output index of ``y[:, 0]``.
        """
        k, n = x.shape[0], x.shape[1]
        first = self.n_out[rows].copy()
        n_in = self.n_in[rows]
        if self.passthrough:
            self.skip(rows, n)
            return x, ok, np.full(k, n, dtype=np.int64), first
        if self.upsampling:
            return self._up(x, ok, rows)
        xf = self._filter(x, rows)
        counts = np.maximum((n_in + n - 1) * self.q // self.p - first + 1, 0)
        m = int(counts.max(initial=0))
        num = (first[:, None] + np.arange(m)[None, :]) * self.p
        idx = np.clip(num // self.q - (n_in[:, None] - 1), 0, n)
        frac = (num % self.q) / self.q
        nxt = np.minimum(idx + 1, n)
        ext = np.concatenate([self.last[rows][:, None, :], xf], axis=1)
        ext_ok = np.concatenate([self.last_ok[rows][:, None], ok], axis=1)
        r = np.arange(k)[:, None]
        y = ext[r, idx] * (1.0 - frac[..., None]) + ext[r, nxt] * frac[..., None]
        y_ok = ext_ok[r, idx] & (ext_ok[r, nxt] | (frac == 0))
        self.last[rows] = xf[:, -1]
        self.last_ok[rows] = ok[:, -1]
        self.n_in[rows] += n
        self.n_out[rows] += counts
        return y, y_ok, counts, first

    def _up(self, x: FA, ok: B, rows: I64) -> tuple[FA, B, I64, I64]:
        """Band-limited up-sampling: output ``j`` once input ``floor(j p / q) + a`` is in."""
        k, n = x.shape[0], x.shape[1]
        a, span = LANCZOS_A, self.taps.shape[1]
        first = self.n_out[rows].copy()
        n_in = self.n_in[rows]
        fresh = n_in == 0
        if fresh.any():  # history before the first sample: that sample held still
            self.hist[rows[fresh]] = x[fresh, :1]
            self.hist_ok[rows[fresh]] = True
        ready = n_in + n - a  # inputs 0 .. ready-1 may sit left of an output position
        counts = np.maximum((ready * self.q - 1) // self.p - first + 1, 0)
        m = int(counts.max(initial=0))
        num = (first[:, None] + np.arange(m)[None, :]) * self.p
        phase = num % self.q
        # ext index of the first tap: input i0 - a + 1 sits at i0 - n_in + a + 1
        start = np.clip(num // self.q - n_in[:, None] + a + 1, 0, n)
        idx = start[..., None] + np.arange(span)
        ext = np.concatenate([self.hist[rows], x], axis=1)
        ext_ok = np.concatenate([self.hist_ok[rows], ok], axis=1)
        r = np.arange(k)[:, None, None]
        taps, w = ext[r, idx], self.taps[phase]
        y = taps[:, :, 0] * w[:, :, 0, None]
        for t in range(1, span):  # a fixed summation order: bit-identical for any block split
            y += taps[:, :, t] * w[:, :, t, None]
        y_ok = ext_ok[r, idx].all(axis=2)
        self.hist[rows] = ext[:, -span:]
        self.hist_ok[rows] = ext_ok[:, -span:]
        self.n_in[rows] += n
        self.n_out[rows] += counts
        return y, y_ok, counts, first


class Ring:
    """Per-row ring buffers of 3-axis samples (float32) and a validity flag per sample.

    Row ``r``'s absolute sample ``j`` lives at column ``(j + off[r]) % capacity``. Contiguous rows
    at one column are written with a slice (the common case). Validity is written only for rows
    with invalid samples in the block or still in the buffer (``last_bad``); elsewhere it is True.
    """

    def __init__(self, rows: int, capacity: int) -> None:
        self.capacity = capacity
        self.acc = np.zeros((0, capacity, 3), dtype=np.float32)
        self.s2 = np.zeros((0, capacity), dtype=np.float32)
        self.ok = np.zeros((0, capacity), dtype=bool)
        self.n = np.zeros(0, dtype=np.int64)
        self.off = np.zeros(0, dtype=np.int64)
        self.last_bad = np.zeros(0, dtype=np.int64)
        self.resize(rows)

    def resize(self, rows: int) -> None:
        extra = max(rows - len(self.n), 0)
        c = self.capacity
        self.acc = np.concatenate([self.acc, np.zeros((extra, c, 3), dtype=np.float32)])
        self.s2 = np.concatenate([self.s2, np.zeros((extra, c), dtype=np.float32)])
        self.ok = np.concatenate([self.ok, np.ones((extra, c), dtype=bool)])
        self.n = np.concatenate([self.n, np.zeros(extra, dtype=np.int64)])
        self.off = np.concatenate([self.off, np.zeros(extra, dtype=np.int64)])
        self.last_bad = np.concatenate([self.last_bad, np.full(extra, -(2**40), dtype=np.int64)])

    def fill(self, rows: I64, sample: FA) -> None:
        """Start ``rows`` afresh with a history of ``sample`` (k, 3) held still."""
        self.acc[rows] = sample[:, None, :]
        self.s2[rows] = sumsq(sample.astype(np.float32))[:, None]
        self.ok[rows] = True
        self.n[rows] = 0
        self.last_bad[rows] = -(2**40)
        ref = int((self.n[0] + self.off[0]) % self.capacity) if len(self.n) else 0
        self.off[rows] = ref

    def write(self, rows: I64, acc: FA, s2: FA, bad: I64, bad_ok: B) -> None:
        """Append ``m`` samples to each of ``rows``: acc (k, m, 3) and their |a|² (k, m).
        ``bad`` indexes (into ``rows``) the rows with invalid samples, ``bad_ok`` (len, m) their
        validity; every other sample is valid. Contiguous rows at one column take slices."""
        m = acc.shape[1]
        n0 = self.n[rows]
        col = (n0 + self.off[rows]) % self.capacity
        c0 = int(col[0]) if len(col) else 0
        if _contiguous(rows) and bool((col == c0).all()):
            rs = slice(int(rows[0]), int(rows[-1]) + 1)
            a = min(m, self.capacity - c0)  # up to the end of the ring, the rest from its start
            self.acc[rs, c0 : c0 + a] = acc[:, :a]
            self.s2[rs, c0 : c0 + a] = s2[:, :a]
            self.acc[rs, : m - a] = acc[:, a:]
            self.s2[rs, : m - a] = s2[:, a:]
        else:
            cols = self._cols(col, m)
            self.acc[rows[:, None], cols] = acc
            self.s2[rows[:, None], cols] = s2
        stale = np.flatnonzero(self.last_bad[rows] >= n0 - self.capacity)  # overwrite old flags
        mark = np.union1d(stale, bad)
        if mark.size:
            ok = np.ones((len(mark), m), dtype=bool)
            if bad.size:
                ok[np.searchsorted(mark, bad)] = bad_ok
            self.ok[rows[mark][:, None], self._cols(col[mark], m)] = ok
        if bad.size:
            last = m - 1 - np.argmin(bad_ok[:, ::-1], axis=1)
            self.last_bad[rows[bad]] = n0[bad] + last
        self.n[rows] += m

    def _cols(self, col: I64, m: int) -> I64:
        return np.asarray((col[:, None] + np.arange(m)[None, :]) % self.capacity)

    def columns(self, rows: I64, start: I64, width: int) -> I64:
        return np.asarray(
            (start[:, None] + np.arange(width)[None, :] + self.off[rows, None]) % self.capacity
        )

    def _flat(self, rows: I64, cols: I64) -> I64:
        return np.asarray(rows[:, None] * self.capacity + cols)

    def take_acc(self, rows: I64, cols: I64) -> F32:
        """Samples (k, w, 3) at ``cols`` (k, w) of ``rows`` (flat ``np.take``: faster than 2-D
        fancy indexing)."""
        flat = self.acc.reshape(-1, 3)
        return np.take(flat, self._flat(rows, cols), axis=0)

    def take_s2(self, rows: I64, cols: I64) -> F32:
        return np.take(self.s2.reshape(-1), self._flat(rows, cols))

    def take_ok(self, rows: I64, cols: I64) -> B:
        return np.take(self.ok.reshape(-1), self._flat(rows, cols))


def _contiguous(rows: I64) -> bool:
    return len(rows) > 0 and int(rows[-1]) - int(rows[0]) + 1 == len(rows) and bool(
        (np.diff(rows) == 1).all()
    )


def run_lengths(flag: B, carry: I64) -> tuple[I64, I64]:
    """Length of the run of True ending at each sample of ``flag`` (k, n), continuing ``carry``."""
    k, n = flag.shape
    idx = np.broadcast_to(np.arange(n, dtype=np.int64), (k, n))
    last_false = np.maximum.accumulate(np.where(flag, -1, idx), axis=1)
    run = idx - last_false
    run = np.where(last_false < 0, run + carry[:, None], run)
    run = np.where(flag, run, 0)
    return run, run[:, -1].copy() if n else carry.copy()


def sumsq(x: FA) -> FA:
    """|a|² of (..., 3) samples, elementwise (exact and fast; numpy reduces a length-3 axis
    slowly, and BLAS could round differently with the array's size)."""
    sq = np.multiply(x, x)
    return np.asarray(sq[..., 0] + sq[..., 1] + sq[..., 2])


def local_peaks(seg: F32, h: int, floor: float) -> tuple[I64, I64]:
    """Centres ``c`` (h <= c < L - h) of rows of ``seg`` (k, L) that reach ``floor``, exceed the
    ``h`` samples before and equal-or-exceed the ``h`` after. Returns ``(rows, c - h)``.

    Only samples at or above ``floor`` that beat their neighbours are examined in full, through
    ``sliding_window_view`` windows gathered at those positions.
    """
    length = seg.shape[1]
    if length < 2 * h + 1:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    centre = seg[:, h : length - h]
    near = (centre >= floor) & (centre > seg[:, h - 1 : length - h - 1])
    near &= centre >= seg[:, h + 1 : length - h + 1]
    rr, cc = np.nonzero(near)
    if len(rr) == 0:
        return rr, cc
    win = sliding_window_view(seg, 2 * h + 1, axis=1)[rr, cc]  # (n, 2h+1), centre at h
    mid = win[:, h]
    keep = (mid > win[:, :h].max(axis=1)) & (mid >= win[:, h + 1 :].max(axis=1))
    return rr[keep], cc[keep]
