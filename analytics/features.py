"""Physics features of candidate impacts, vectorised over candidates.

Every function takes windows gathered around candidate impacts at the common rate: ``acc`` of shape
``(k, W, 3)`` in g with the impact at index ``pre`` (``W = pre + 1 + post``), and returns one value
per candidate. Nothing here knows about streams, devices or time stamps, so the streaming detector,
the fitting script and the per-sample baseline all compute the very same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

FREEFALL_G = 0.6
STILL_G = 0.15

FEATURE_NAMES: tuple[str, ...] = (
    "peak_g",
    "pre_min_g",
    "freefall_s",
    "descent_gs",
    "impact_gs",
    "jerk_gps",
    "width_s",
    "peaks_near",
    "pre_std_g",
    "bounce_std_g",
    "post_std_g",
    "post_dev_g",
    "post_max_g",
    "tilt_change_deg",
    "post_tilt_std_deg",
    "impact_angle_deg",
    "active_after_s",
    "post_min_g",
    "pre_max_g",
    "rot_range_deg",
    "tilt_near_deg",
    "g_pre_x",
    "g_pre_y_abs",
    "g_pre_z",
    "g_post_x",
    "g_post_y_abs",
    "g_post_z",
)
"""The waist set: gravity in SisFall's frame (y vertical standing, x across the belt)."""

EXTRA_NAMES: tuple[str, ...] = (
    "g_pre_x_abs",
    "g_post_x_abs",
    "x_turn",
    "y_turn",
    "input_band_hz",
)
"""Frame features that do not change when the device's x or y axis points the other way, and
the input's bandwidth (half its sample rate, at most 25 Hz): a 20-Hz wearable blurs impacts."""

ALL_NAMES: tuple[str, ...] = FEATURE_NAMES + EXTRA_NAMES

WRIST_NAMES: tuple[str, ...] = tuple(n for n in ALL_NAMES if n not in ("g_pre_x", "g_post_x"))
"""The wrist set: invariant to the sign of the forearm axis x and of y (left or right wrist,
watch turned): the forearm's elevation |x| before and after, x_turn = x_pre·x_post (did the
forearm swing through the horizontal?), the same for y; and the input's bandwidth."""


@dataclass(frozen=True, slots=True)
class WindowLayout:
    """Where the sub-windows sit, in samples at rate ``fs`` around an impact at index ``pre``."""

    fs: float
    pre: int
    post: int

    @classmethod
    def from_seconds(cls, fs: float, pre_s: float, post_s: float) -> WindowLayout:
        return cls(fs, round(pre_s * fs), round(post_s * fs))

    @property
    def width(self) -> int:
        return self.pre + 1 + self.post

    def span(self, start_s: float, stop_s: float) -> slice:
        """Samples from ``start_s`` to ``stop_s`` (exclusive) relative to the impact, clamped."""
        a = min(max(self.pre + round(start_s * self.fs), 0), self.width)
        b = min(max(self.pre + round(stop_s * self.fs), a + 1), self.width)
        return slice(a, b)


def _dot(u: F64, v: F64) -> F64:
    """Dot product over a leading axis of length 3 (axis-first layout: (3, ...))."""
    return np.asarray(u[0] * v[0] + u[1] * v[1] + u[2] * v[2])


def _angle_deg(u: F64, v: F64) -> F64:
    """Angle between vectors stored axis-first, shapes broadcasting after the first axis."""
    cos = _dot(u, v) / np.maximum(np.sqrt(_dot(u, u) * _dot(v, v)), 1e-9)
    return np.asarray(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))), dtype=np.float64)


def _count_peaks(mag: F64, floor: F64) -> F64:
    """Local maxima of each row above that row's ``floor``."""
    mid = mag[:, 1:-1]
    is_peak = (mid > mag[:, :-2]) & (mid >= mag[:, 2:]) & (mid > floor[:, None])
    return np.asarray(is_peak.sum(axis=1), dtype=np.float64)


def _rotation_range(a: F64, lay: WindowLayout) -> F64:
    """Largest angle between any two 0.2-s mean gravity vectors from -1.6 s to +1.0 s."""
    seg = a[:, :, lay.span(-1.6, 1.0)]
    step = max(round(0.2 * lay.fs), 1)
    nb = seg.shape[2] // step
    blocks = seg[:, :, : nb * step].reshape(3, seg.shape[1], nb, step).mean(axis=3)
    unit = blocks / np.maximum(np.sqrt(_dot(blocks, blocks)), 1e-9)
    cos = np.einsum("kni,knj->nij", unit, unit).min(axis=(1, 2))
    return np.asarray(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))), dtype=np.float64)


def _impact(mag: F64, lay: WindowLayout) -> list[F64]:
    dt = 1.0 / lay.fs
    peak = mag[:, lay.pre]
    pre1 = mag[:, lay.span(-1.0, 0.0)]
    near = mag[:, lay.span(-0.5, 0.5)]
    jerk = np.abs(np.diff(mag[:, lay.span(-0.2, 0.1)], axis=1)).max(axis=1) * lay.fs
    return [
        peak,
        pre1.min(axis=1),
        (pre1 < FREEFALL_G).sum(axis=1) * dt,
        np.clip(1.0 - mag[:, lay.span(-0.5, 0.0)], 0.0, None).sum(axis=1) * dt,
        np.abs(mag[:, lay.span(-0.2, 0.2)] - 1.0).sum(axis=1) * dt,
        jerk,
        (near > np.maximum(0.5 * peak, 1.0)[:, None]).sum(axis=1) * dt,
        _count_peaks(mag[:, lay.span(-2.0, 3.0)], np.maximum(0.5 * peak, 1.3)),
    ]


def _before_after(lay: WindowLayout) -> tuple[slice, slice]:
    """The still-standing part before (start .. -1 s) and the lying part after (+1 s .. end)."""
    return lay.span(-lay.pre / lay.fs, -1.0), lay.span(1.0, (lay.post + 1) / lay.fs)


def columns(names: tuple[str, ...]) -> list[int]:
    """Positions of ``names`` among :data:`ALL_NAMES` (``ValueError`` for an unknown name)."""
    return [ALL_NAMES.index(n) for n in names]


def compute(acc: F64, lay: WindowLayout, names: tuple[str, ...] = FEATURE_NAMES,
            input_hz: float | None = None) -> F64:
    """Feature matrix ``(k, len(names))`` for windows ``acc`` of shape ``(k, W, 3)`` resampled
    from ``input_hz`` (default: recorded at ``lay.fs``)."""
    full = compute_all(acc, lay, lay.fs if input_hz is None else input_hz)
    return full if names == ALL_NAMES else np.ascontiguousarray(full[:, columns(names)])


def compute_all(acc: F64, lay: WindowLayout, input_hz: float) -> F64:
    """Every feature of :data:`ALL_NAMES`, ``(k, len(ALL_NAMES))``."""
    acc = np.asarray(acc, dtype=np.float64)
    if acc.ndim != 3 or acc.shape[1] != lay.width or acc.shape[2] != 3:
        raise ValueError(f"windows of shape {acc.shape}, expected (k, {lay.width}, 3)")
    a = np.ascontiguousarray(acc.transpose(2, 0, 1))  # (3, k, W): reductions run contiguous
    dt = 1.0 / lay.fs
    mag = np.sqrt(_dot(a, a))
    before, after = _before_after(lay)
    post = mag[:, after]
    g_pre = a[:, :, before].mean(axis=2)
    g_post = a[:, :, after].mean(axis=2)
    u_pre, u_post = _unit(g_pre), _unit(g_post)
    cols = [
        *_impact(mag, lay),
        mag[:, before].std(axis=1),
        mag[:, lay.span(0.2, 1.0)].std(axis=1),
        post.std(axis=1),
        np.abs(post - 1.0).mean(axis=1),
        post.max(axis=1),
        _angle_deg(g_pre, g_post),
        _angle_deg(a[:, :, after], g_post[:, :, None]).std(axis=1),
        _angle_deg(a[:, :, lay.pre], g_pre),
        (np.abs(post - 1.0) > STILL_G).sum(axis=1) * dt,
        mag[:, lay.span(0.3, lay.post / lay.fs + dt)].min(axis=1),
        mag[:, lay.span(-3.0, -0.4)].max(axis=1),
        _rotation_range(a, lay),
        _angle_deg(a[:, :, lay.span(-0.6, -0.3)].mean(axis=2),
                   a[:, :, lay.span(0.5, 1.0)].mean(axis=2)),
        *_frame(u_pre),
        *_frame(u_post),
        np.abs(u_pre[0]),
        np.abs(u_post[0]),
        u_pre[0] * u_post[0],
        u_pre[1] * u_post[1],
        np.full(len(mag), min(input_hz, lay.fs) / 2.0),
    ]
    return np.stack(cols, axis=1)


def _unit(g: F64) -> F64:
    return np.asarray(g / np.maximum(np.sqrt(_dot(g, g)), 1e-9))


def _frame(u: F64) -> list[F64]:
    """Unit gravity in the device frame as (x, |y|, z): |y| so either wrist/side reads alike."""
    return [u[0], np.abs(u[1]), u[2]]
