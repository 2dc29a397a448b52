"""What another maker's device does to a recording, one pure function per effect.

Every function takes samples ``acc`` of shape ``(n, 3)`` in g (and a ``numpy.random.Generator``
where chance is involved) and returns new samples; nothing is changed in place. A
:class:`Degradation` chains them in the order a device applies them:

    axis flips (which wrist) -> mounting rotation -> gain error -> sample rate -> range clip
    -> quantisation -> dropped / repeated samples

Used twice: to measure the detector on degraded input (``python -m analytics.evaluate``,
``python -m analytics.tune --cv --robustness``) and, with random draws
(:mod:`analytics.augment`), to train on many simulated devices.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt
from scipy import signal
from scipy.spatial.transform import Rotation

from analytics.errors import InputError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

AXES = "xyz"


def flip(acc: F64, axes: str) -> F64:
    """Negate the named axes (``"x"``, ``"xy"``…): the device on the other wrist, or turned."""
    if set(axes) - set(AXES):
        raise InputError(f"axes to flip must be among {AXES!r}, got {axes!r}")
    sign = np.array([-1.0 if a in axes else 1.0 for a in AXES])
    return np.asarray(np.asarray(acc, dtype=np.float64) * sign)


def rotation(angle_deg: float, rng: np.random.Generator) -> F64:
    """A 3×3 rotation by ``angle_deg`` about a uniformly random axis."""
    axis = rng.normal(size=3)
    axis /= max(float(np.linalg.norm(axis)), 1e-12)
    return np.asarray(Rotation.from_rotvec(axis * np.radians(angle_deg)).as_matrix())


def rotate(acc: F64, angle_deg: float, rng: np.random.Generator) -> F64:
    """The device mounted ``angle_deg`` off the training frame, about a random axis."""
    return np.asarray(np.asarray(acc, dtype=np.float64) @ rotation(angle_deg, rng).T)


def gain_error(acc: F64, max_error: float, rng: np.random.Generator) -> F64:
    """Per-axis sensitivity error drawn uniformly in ±``max_error`` (0.05 = ±5 %)."""
    return np.asarray(acc, dtype=np.float64) * (1.0 + rng.uniform(-max_error, max_error, 3))


def ratio(fs: float, fs_new: float) -> tuple[int, int]:
    """``fs_new / fs`` as ``(up, down)`` integers."""
    r = Fraction(fs_new).limit_denominator(1000) / Fraction(fs).limit_denominator(1000)
    r = r.limit_denominator(1000)
    return r.numerator, r.denominator


def resample(acc: F64, fs: float, fs_new: float) -> F64:
    """To ``fs_new`` Hz by polyphase filtering (``resample_poly``: anti-aliased when down,
    band-limited interpolation when up; a line is padded at the ends, so no edge ramps)."""
    up, down = ratio(fs, fs_new)
    a = np.asarray(acc, dtype=np.float64)
    if up == down or len(a) == 0:
        return a.copy()
    return np.asarray(signal.resample_poly(a, up, down, axis=0, padtype="line"))


def clip_range(acc: F64, range_g: float) -> F64:
    """Saturate each axis at ±``range_g`` (a ±2/±8/±16 g part)."""
    return np.clip(np.asarray(acc, dtype=np.float64), -range_g, range_g)


def quantise(acc: F64, range_g: float, bits: int) -> F64:
    """Round to the steps of a ``bits``-bit converter spanning ±``range_g``."""
    lsb = 2.0 * range_g / 2**bits
    return np.asarray(np.round(np.asarray(acc, dtype=np.float64) / lsb) * lsb)


def drop_repeat_counts(n: int, p_drop: float, p_repeat: float,
                       rng: np.random.Generator) -> I64:
    """How often each of ``n`` samples is delivered: 0 (dropped), 1, or 2 (repeated)."""
    if p_drop < 0 or p_repeat < 0 or p_drop + p_repeat > 1:
        raise InputError(f"drop/repeat probabilities {p_drop}, {p_repeat} out of range")
    u = rng.random(n)
    return np.where(u < p_drop, 0, np.where(u < p_drop + p_repeat, 2, 1)).astype(np.int64)


def drop_repeat(acc: F64, counts: I64) -> F64:
    """Deliver sample ``i`` ``counts[i]`` times (a lossy link or a sloppy FIFO)."""
    return np.repeat(np.asarray(acc, dtype=np.float64), counts, axis=0)


@dataclass(frozen=True, slots=True)
class Degradation:
    """One device's differences from the training data; the defaults change nothing.

    fs: sample rate it delivers (None: as recorded); range_g: full scale per axis (None: no
    clip); bits: converter resolution over ±range_g (±16 g when range_g is None); p_drop /
    p_repeat: chance a sample is lost / delivered twice; flip: axes negated; rotate_deg: mounting
    error about a random axis; gain: per-axis sensitivity error bound.
    """

    fs: float | None = None
    range_g: float | None = None
    bits: int | None = None
    p_drop: float = 0.0
    p_repeat: float = 0.0
    flip: str = ""
    rotate_deg: float = 0.0
    gain: float = 0.0

    @property
    def is_identity(self) -> bool:
        return self == Degradation()

    @property
    def label(self) -> str:
        """Short description for tables, e.g. ``20 Hz, ±8 g, drop 2 %, flip x``."""
        parts = []
        if self.fs is not None:
            parts.append(f"{self.fs:g} Hz")
        if self.range_g is not None:
            parts.append(f"±{self.range_g:g} g")
        if self.bits is not None:
            parts.append(f"{self.bits} bit")
        if self.p_drop:
            parts.append(f"drop {100 * self.p_drop:g} %")
        if self.p_repeat:
            parts.append(f"repeat {100 * self.p_repeat:g} %")
        if self.flip:
            parts.append(f"flip {self.flip}")
        if self.rotate_deg:
            parts.append(f"rotate {self.rotate_deg:g}°")
        if self.gain:
            parts.append(f"gain ±{100 * self.gain:g} %")
        return ", ".join(parts) or "as recorded"

    def apply(self, acc: F64, fs: float, onset: int,
              rng: np.random.Generator) -> tuple[F64, float, int]:
        """Degrade one recording; returns samples, their rate and ``onset`` moved to match
        (``-1`` stays ``-1``)."""
        a = np.asarray(acc, dtype=np.float64)
        if self.flip:
            a = flip(a, self.flip)
        if self.rotate_deg:
            a = rotate(a, self.rotate_deg, rng)
        if self.gain:
            a = gain_error(a, self.gain, rng)
        fs_out = fs
        if self.fs is not None and self.fs != fs:
            a = resample(a, fs, self.fs)
            up, down = ratio(fs, self.fs)
            fs_out = fs * up / down
            onset = round(onset * up / down) if onset >= 0 else onset
        if self.range_g is not None:
            a = clip_range(a, self.range_g)
        if self.bits is not None:
            a = quantise(a, self.range_g or 16.0, self.bits)
        if self.p_drop or self.p_repeat:
            counts = drop_repeat_counts(len(a), self.p_drop, self.p_repeat, rng)
            a = drop_repeat(a, counts)
            onset = int(counts[:onset].sum()) if onset >= 0 else onset
        return a, fs_out, onset
