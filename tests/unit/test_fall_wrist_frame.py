"""The wrist features: invariant to the forearm axis' sign, streaming-exact at any input rate."""

from __future__ import annotations

import numpy as np
import pytest

from analytics import features as feat
from analytics import synth
from analytics.degrade import resample
from analytics.fall import FallDetector
from analytics.offline import run_trial
from analytics.params import FallParams, load_params
from kernel.placement import Placement
from tests.unit.test_fall_detector import _events_key, _run_blocks


def _windows(rng: np.random.Generator, lay: feat.WindowLayout) -> np.ndarray:
    out = []
    for _ in range(6):
        acc, impact = synth.fall(lay.fs, Placement.WRIST, rng)
        out.append(acc[impact - lay.pre : impact + lay.post + 1])
    return np.stack(out)


@pytest.mark.parametrize("axes", ["x", "y", "xy"])
def test_wrist_features_do_not_see_which_way_the_forearm_axis_points(axes: str) -> None:
    lay = feat.WindowLayout.from_seconds(50.0, 3.0, 2.5)
    win = _windows(np.random.default_rng(1), lay)
    flipped = win * np.array([-1.0 if a in axes else 1.0 for a in "xyz"])
    same = feat.compute(win, lay, feat.WRIST_NAMES)
    np.testing.assert_allclose(feat.compute(flipped, lay, feat.WRIST_NAMES), same, atol=1e-12)
    legacy = feat.compute(flipped, lay)  # the waist set keeps the sign of x
    if "x" in axes:
        assert not np.allclose(legacy, feat.compute(win, lay))


def test_input_band_tells_the_model_the_input_rate() -> None:
    lay = feat.WindowLayout.from_seconds(50.0, 3.0, 2.5)
    win = _windows(np.random.default_rng(2), lay)
    col = feat.WRIST_NAMES.index("input_band_hz")
    assert np.all(feat.compute(win, lay, feat.WRIST_NAMES, input_hz=20.0)[:, col] == 10.0)
    assert np.all(feat.compute(win, lay, feat.WRIST_NAMES, input_hz=200.0)[:, col] == 25.0)


def _wrist_params() -> FallParams:
    """The shipped wrist model and threshold, judging from 1.5 g (more candidates to compare)."""
    return load_params(Placement.WRIST).model_copy(update={"candidate_g": 1.5})


@pytest.mark.parametrize("fs", [20.0, 25.0, 100.0])
def test_wrist_features_and_events_are_split_invariant_at_other_rates(fs: float) -> None:
    rng = np.random.default_rng(4)
    params = _wrist_params()
    streams = []
    for d in range(3):
        fall, _ = synth.fall(fs, Placement.WRIST, rng, after_s=70.0 if d % 2 else 10.0)
        walk = synth.walking(fs, 40.0, synth.UPRIGHT[Placement.WRIST], rng, amp=0.9)
        streams.append(np.concatenate([walk, fall])[: int(50 * fs)])
    x = np.stack(streams)

    def detector() -> FallDetector:
        return FallDetector(Placement.WRIST, fs, 3, params, keep_candidates=True)

    det_whole = FallDetector(Placement.WRIST, fs, 3, params, max_block_s=1e6, keep_candidates=True)
    whole = det_whole.process(x, 1000.0)
    det_second, det_ragged = detector(), detector()
    by_second = _run_blocks(det_second, x, fs, [int(fs)] * 120)
    sizes = rng.integers(1, int(2 * fs), size=400).tolist()
    ragged = _run_blocks(det_ragged, x, fs, sizes)
    assert len(det_whole.candidates) >= 3
    assert _events_key(whole) == _events_key(by_second) == _events_key(ragged)

    def cands(d: FallDetector) -> list[tuple[object, ...]]:
        return sorted((c.row, c.impact, c.score, c.features.tobytes()) for c in d.candidates)

    assert cands(det_whole) == cands(det_second) == cands(det_ragged)


def test_twenty_hz_input_is_upsampled_with_its_look_ahead_in_the_decision_time() -> None:
    rng = np.random.default_rng(6)
    acc50, impact = synth.fall(50.0, Placement.WRIST, rng)
    acc20 = resample(acc50, 50.0, 20.0)
    params = _wrist_params()
    c50 = max(run_trial(acc50, 50.0, Placement.WRIST, params, keep_candidates=True).candidates,
              key=lambda c: c.features[0])
    c20 = max(run_trial(acc20, 20.0, Placement.WRIST, params, keep_candidates=True).candidates,
              key=lambda c: c.features[0])
    assert abs(c50.t_impact - impact / 50.0) < 0.05
    assert abs(c20.t_impact - impact / 50.0) < 0.1
    assert c50.t_decision - c50.t_impact == pytest.approx(params.post_s)
    assert c20.t_decision - c20.t_impact == pytest.approx(params.post_s + 3 / 20.0)
