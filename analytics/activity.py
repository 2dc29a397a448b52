"""Per-minute activity counts from raw acceleration, for the activity store and inactivity rules.

count = Σ max(|hp(‖a‖)| − dead-band, 0) · dt over the samples of each clock minute, in g·s, where
``hp`` is a 0.25 Hz Butterworth high-pass run with carried ``zi`` (so blocks and one array agree).
The dead-band keeps sensor noise out: a wearable lying on a table counts ~0, a sleeping wearer
fractions of a g·s, walking ~10+ per minute. Minutes also report how many samples they covered,
so "device silent" (no samples) is distinct from "no activity".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import signal

from analytics.errors import InputError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

HIGH_PASS_HZ = 0.25
DEAD_BAND_G = 0.02


@dataclass(frozen=True, slots=True)
class MinuteCounts:
    """Completed minutes: ``row`` (device row), ``minute`` (Unix time // 60), ``count`` (g·s),
    ``samples`` (how many valid samples the minute had)."""

    row: I64
    minute: I64
    count: F64
    samples: I64


class ActivityCounter:
    """Streaming per-minute activity counts for ``rows`` devices at ``fs`` Hz."""

    def __init__(self, fs: float, rows: int, dead_band_g: float = DEAD_BAND_G) -> None:
        if not (np.isfinite(fs) and fs > 2 * HIGH_PASS_HZ):
            raise InputError(f"sample rate {fs} too low for activity counts")
        self.fs = float(fs)
        self.dead_band = dead_band_g
        self.sos = np.asarray(signal.butter(2, HIGH_PASS_HZ, "highpass", fs=fs, output="sos"))
        self.zi = np.zeros((len(self.sos), rows, 2))
        self.fresh = np.ones(rows, dtype=bool)
        self.minute = np.full(rows, -1, dtype=np.int64)
        self.count = np.zeros(rows)
        self.samples = np.zeros(rows, dtype=np.int64)

    def process(self, block: npt.ArrayLike, t0: float | npt.ArrayLike) -> MinuteCounts:
        """Feed ``block`` (rows, n, 3) in g starting at ``t0``; return the minutes completed."""
        x = np.asarray(block, dtype=np.float64)
        k = self.zi.shape[1]
        if x.ndim != 3 or x.shape[0] != k or x.shape[2] != 3:
            raise InputError(f"block of shape {x.shape}, expected ({k}, samples, 3)")
        n = x.shape[1]
        t = np.broadcast_to(np.asarray(t0, dtype=np.float64), (k,))
        mag = np.sqrt(np.einsum("ijk,ijk->ij", x, x))
        valid = np.isfinite(mag) & (mag > 0)
        mag = np.where(valid, mag, 1.0)  # gaps read as rest, and are not counted as samples
        if self.fresh.any():
            unit = signal.sosfilt_zi(self.sos)
            self.zi[:, self.fresh] = unit[:, None, :] * mag[self.fresh, 0][None, :, None]
            self.fresh[:] = False
        hp, self.zi = signal.sosfilt(self.sos, mag, axis=1, zi=self.zi)
        contrib = np.where(valid, np.maximum(np.abs(hp) - self.dead_band, 0.0) / self.fs, 0.0)
        minute = np.floor((t[:, None] + np.arange(n)[None, :] / self.fs) / 60.0).astype(np.int64)
        return self._accumulate(minute, contrib, valid)

    def _accumulate(self, minute: I64, contrib: F64, valid: npt.NDArray[np.bool_]) -> MinuteCounts:
        k = minute.shape[0]
        has = self.minute >= 0
        minute = np.where(has[:, None], np.maximum(minute, self.minute[:, None]), minute)
        start = minute[:, 0]
        flushed = has & (self.minute < start)  # the pending minute ended before this block
        rel = minute - start[:, None]
        width = int(rel.max()) + 1
        flat = (np.arange(k)[:, None] * width + rel).ravel()
        sums = np.bincount(flat, contrib.ravel(), k * width).reshape(k, width)
        cnt = np.bincount(flat, valid.ravel().astype(np.float64), k * width).reshape(k, width)
        carry = has & ~flushed
        sums[carry, 0] += self.count[carry]
        cnt[carry, 0] += self.samples[carry]
        last = rel[:, -1]
        rr, cc = np.nonzero((np.arange(width)[None, :] < last[:, None]) & (cnt > 0))
        fr = np.nonzero(flushed & (self.samples > 0))[0]
        out = MinuteCounts(
            np.concatenate([fr, rr]).astype(np.int64),
            np.concatenate([self.minute[fr], start[rr] + cc]),
            np.concatenate([self.count[fr], sums[rr, cc]]),
            np.concatenate([self.samples[fr], cnt[rr, cc].astype(np.int64)]),
        )
        rows = np.arange(k)
        self.minute = start + last
        self.count = sums[rows, last]
        self.samples = cnt[rows, last].astype(np.int64)
        return out


def minute_activity(acc: npt.ArrayLike, fs: float, t0: float = 0.0) -> tuple[F64, I64]:
    """Offline: counts and sample coverage per minute for ``acc`` (devices, samples, 3) starting
    at ``t0`` (seconds); returns arrays (devices, minutes) from minute ``floor(t0/60)``, the last
    (partial) minute included."""
    x = np.asarray(acc, dtype=np.float64)
    counter = ActivityCounter(fs, x.shape[0])
    done = counter.process(x, t0)
    first = int(np.floor(t0 / 60.0))
    minutes = int(counter.minute.max()) - first + 1
    counts = np.zeros((x.shape[0], minutes))
    samples = np.zeros((x.shape[0], minutes), dtype=np.int64)
    counts[done.row, done.minute - first] = done.count
    samples[done.row, done.minute - first] = done.samples
    rows = np.arange(x.shape[0])
    counts[rows, counter.minute - first] = counter.count
    samples[rows, counter.minute - first] = counter.samples
    return counts, samples
