"""Body-worn 3-axis acceleration in g: postures, gait, sleep turns and falls, at 50 Hz.

A day is a table of :class:`Piece` s (what the body does from a start time on). The signal is a
pure function of the sample index: noise comes from one-second blocks seeded by ``(seed, block)``
and every filter is a finite causal window computed over padding, so any interval yields the
same samples however a day is cut into intervals.

Device axes: the waist pendant reads (0, 0, +1) g standing still (+z up the trunk, +y out of the
belly, +x to the wearer's left); the wrist band has x along the forearm towards the hand, z out of
the watch face.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

import numpy as np
import numpy.typing as npt

from firmware_sim.routine import Activity

F64 = npt.NDArray[np.float64]
RATE_HZ: Final = 50.0
BLOCK: Final = 500  # samples per noise block (10 s)
SMOOTH: Final = 25  # posture changes blend over 0.5 s
LOWPASS: Final = 5  # body-motion noise is white noise averaged over 0.1 s
PAD: Final = SMOOTH + LOWPASS
SENSOR_NOISE_G: Final = 0.003
IMPACT_S: Final = 0.3


class Phase(IntEnum):
    POSTURE = 0
    WALK = 1
    STUMBLE = 2
    FREEFALL = 3
    IMPACT = 4
    OFF = 5  # not worn: lying on a table


Vec = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class Piece:
    """From ``start`` (on the sample grid) the body does ``phase`` with gravity along ``up``.

    ``level`` is body-motion noise (g rms); ``freq``/``amp`` the gait frequency (Hz) and vertical
    amplitude (g) when walking, ``amp`` the residual |a| in free fall and the peak |a| of an
    impact. ``activity`` drives vital signs (None = not worn); ``stress`` raises heart rate.
    """

    start: float
    phase: Phase
    up: Vec
    level: float = 0.01
    freq: float = 0.0
    amp: float = 0.0
    activity: Activity | None = Activity.STANDING
    stress: bool = False


def snap(t: float) -> float:
    """``t`` rounded to the sample grid, computed exactly as sample times are."""
    return round(t * RATE_HZ) / RATE_HZ


class PieceTable:
    """Pieces sorted by start, with column arrays for vectorised lookup."""

    def __init__(self, pieces: Sequence[Piece]) -> None:
        self.pieces = tuple(sorted(pieces, key=lambda p: p.start))
        self.starts = np.array([p.start for p in self.pieces])
        self.phase = np.array([p.phase for p in self.pieces], dtype=np.int8)
        self.up = np.array([p.up for p in self.pieces], dtype=np.float64)
        self.level = np.array([p.level for p in self.pieces])
        self.freq = np.array([p.freq for p in self.pieces])
        self.amp = np.array([p.amp for p in self.pieces])

    def index(self, t: F64) -> npt.NDArray[np.intp]:
        return np.maximum(np.searchsorted(self.starts, t, side="right") - 1, 0)

    def at(self, t: float) -> Piece:
        return self.pieces[max(bisect.bisect_right(self.starts.tolist(), t) - 1, 0)]

    def previous(self, piece: Piece) -> Piece:
        i = self.pieces.index(piece)
        return self.pieces[max(i - 1, 0)]


def gaussian(seed: int, channel: int, k0: int, k1: int) -> F64:
    """Standard normal (k1 - k0, 3) noise for samples k0..k1, identical however it is cut."""
    b0, b1 = k0 // BLOCK, -(-k1 // BLOCK)
    blocks = [np.random.default_rng([seed, channel, b % (1 << 32)]).standard_normal((BLOCK, 3))
              for b in range(b0, b1)]
    joined = np.concatenate(blocks) if blocks else np.zeros((0, 3))
    return joined[k0 - b0 * BLOCK : k1 - b0 * BLOCK]


def _window_mean(x: F64, w: int, n: int) -> F64:
    """Causal mean over ``w`` samples, last ``n`` rows (needs len(x) >= n + w - 1).

    Summed slice by slice, in the same order for every row, so the result of a sample does not
    depend on where the interval it was computed in began."""
    m = len(x)
    total = x[m - n - w + 1 : m - w + 1].copy()
    for j in range(1, w):
        total += x[m - n - w + 1 + j : m - w + 1 + j]
    return total / w


def synthesize(table: PieceTable, *, wrist: bool, seed: int, k0: int, k1: int) -> F64:
    """Acceleration (g) of samples ``k0 <= k < k1`` (sample k at k / RATE_HZ s), shape (n, 3)."""
    n = k1 - k0
    if n <= 0:
        return np.zeros((0, 3))
    t_all = np.arange(k0 - PAD, k1) / RATE_HZ
    idx_all = table.index(t_all)
    g_dir = _window_mean(table.up[idx_all], SMOOTH, n)
    g_dir /= np.linalg.norm(g_dir, axis=1, keepdims=True)
    t, idx = t_all[-n:], idx_all[-n:]
    phase, tau = table.phase[idx], t - table.starts[idx]
    amp, level = table.amp[idx], table.level[idx] * (2.5 if wrist else 1.0)
    body = _window_mean(gaussian(seed, 1, k0 - PAD, k1), LOWPASS, n) * np.sqrt(LOWPASS)
    out = g_dir.copy()
    free = phase == Phase.FREEFALL
    out[free] *= amp[free, None]
    walk = phase == Phase.WALK
    if walk.any():
        out[walk] = _gait(tau[walk], table.freq[idx][walk], amp[walk], g_dir[walk], wrist)
    hit = phase == Phase.IMPACT
    if hit.any():
        out[hit] += _impact(tau[hit], amp[hit], g_dir[hit], body[hit], wrist)
    out += body * level[:, None]
    out += SENSOR_NOISE_G * gaussian(seed, 2, k0, k1)
    return out


def _gait(tau: F64, freq: F64, amp: F64, up: F64, wrist: bool) -> F64:
    """Walking: vertical bounce at the step frequency, sway at half of it (one stride)."""
    w = 2 * np.pi * freq * tau
    vertical = amp * (np.sin(w) + 0.3 * np.sin(2 * w + 0.7))
    forward = 0.5 * amp * np.sin(w + np.pi / 2)
    stride = np.sin(0.5 * w)
    if not wrist:
        lateral = 0.3 * amp * stride
        return up * (1 + vertical)[:, None] + np.stack([lateral, forward, 0 * tau], axis=1)
    theta = 0.5 * stride  # the arm swings ±30° about the device y axis
    c, s = np.cos(theta), np.sin(theta)
    swung = np.stack([up[:, 0] * c + up[:, 2] * s, up[:, 1], -up[:, 0] * s + up[:, 2] * c], 1)
    swing = np.stack([0.4 * amp * stride, 0 * tau, 0 * tau], axis=1)
    return swung * (1 + 0.5 * vertical)[:, None] + swing


def _impact(tau: F64, peak: F64, up: F64, noise: F64, wrist: bool) -> F64:
    """Ground reaction: a spike of ``peak`` g along the new up, ringing for ~0.3 s."""
    ring = 0.25 * peak * np.exp(-tau / 0.08) * np.sin(2 * np.pi * 9 * tau)
    spike = np.maximum((peak - 1) * np.exp(-tau / 0.03) + ring, -0.3)  # the body rebounds on
    out = up * spike[:, None]
    if wrist:  # the hand hits first and bounces: larger and messier
        out += noise * (0.15 * peak * np.exp(-tau / 0.1))[:, None]
    return out
