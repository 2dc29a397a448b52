"""Bad input: NaN, gaps, zeros, clipping, flatline, rate change — no crash, no false fall,
a sensor-fault event where it is one."""

from __future__ import annotations

import numpy as np

from analytics import synth
from analytics.events import FallEvent, FaultKind, SensorFault
from analytics.fall import FallDetector
from analytics.features import FEATURE_NAMES
from analytics.params import FallParams, ForestSpec
from kernel.placement import Placement

FS = 50.0


def alert_on_anything() -> FallParams:
    """A model that alerts on every candidate it is allowed to judge."""
    peak = FEATURE_NAMES.index("peak_g")
    model = ForestSpec(base=10.0, feature=[[peak, -1, -1]], threshold=[[0.0, 0.0, 0.0]],
                       value=[[0.0, 0.0, 0.0]])
    return FallParams(placement=Placement.WRIST, candidate_g=1.5, post_s=2.0, model=model,
                      alert_threshold=0.0)


def _faults(events: list[object]) -> list[tuple[FaultKind, bool]]:
    return [(e.kind, e.active) for e in events if isinstance(e, SensorFault)]


def _feed(x: np.ndarray, block: int = 50, t0: float = 0.0) -> tuple[list[object], FallDetector]:
    det = FallDetector(Placement.WRIST, FS, x.shape[0], alert_on_anything())
    events: list[object] = []
    for i in range(0, x.shape[1], block):
        events += det.process(x[:, i : i + block], t0 + i / FS)
    return events, det


def _quiet(seconds: float, rng: np.random.Generator) -> np.ndarray:
    return synth.rest(FS, seconds, synth.UPRIGHT[Placement.WRIST], rng)


def test_nan_burst_is_a_fault_and_never_a_fall() -> None:
    rng = np.random.default_rng(0)
    x = _quiet(40, rng)
    x[500:505] = np.nan
    x[506] = [np.inf, 0.0, 1.0]
    x[520] = [3.0, 3.0, 3.0]  # a spike whose window holds the NaNs
    events, det = _feed(x[None])
    assert not [e for e in events if isinstance(e, FallEvent)]
    assert _faults(events) == [(FaultKind.NAN, True), (FaultKind.NAN, False)]
    assert det.counters.rejected_invalid == 1
    start = next(e for e in events if isinstance(e, SensorFault))
    assert start.t == 500 / FS


def test_clean_spike_is_judged_by_the_same_model() -> None:
    rng = np.random.default_rng(1)
    x = _quiet(40, rng)
    x[520] = [3.0, 3.0, 3.0]
    events, det = _feed(x[None])
    assert len([e for e in events if isinstance(e, FallEvent)]) == 1
    assert _faults(events) == []
    assert det.counters.rejected_invalid == 0


def test_all_zero_stream_is_a_fault_without_falls() -> None:
    x = np.zeros((2, 3000, 3))
    x[1, 1500:] = synth.UPRIGHT[Placement.WRIST]
    x[1, 1600] = [4.0, 0.0, 0.0]  # a spike soon after the sensor came back
    events, _ = _feed(x)
    assert not [e for e in events if isinstance(e, FallEvent)]
    kinds = {(e.device, e.kind, e.active) for e in events if isinstance(e, SensorFault)}
    assert (0, FaultKind.ALL_ZERO, True) in kinds
    assert (1, FaultKind.ALL_ZERO, False) in kinds
    assert (0, FaultKind.ALL_ZERO, False) not in kinds


def test_sustained_clipping_is_a_fault_but_one_clipped_impact_is_not() -> None:
    rng = np.random.default_rng(2)
    x = np.stack([_quiet(30, rng), _quiet(30, rng)])
    x[0, 400:500] = [16.0, -16.0, 16.0]  # stuck at the rail for 2 s
    x[1, 400] = [16.0, 2.0, 1.0]  # a hard impact clips one sample
    events, _ = _feed(x)
    faults = {(e.device, e.kind) for e in events if isinstance(e, SensorFault)}
    assert faults == {(0, FaultKind.CLIPPING)}
    assert [e.device for e in events if isinstance(e, FallEvent)] == [1]


def test_flatline_is_a_fault() -> None:
    rng = np.random.default_rng(3)
    x = _quiet(30, rng)
    x[300:700] = x[300]  # 8 s of bit-identical samples
    events, _ = _feed(x[None])
    assert _faults(events) == [(FaultKind.FLATLINE, True), (FaultKind.FLATLINE, False)]


def test_gap_in_time_restarts_the_stream_and_detection_continues() -> None:
    rng = np.random.default_rng(4)
    det = FallDetector(Placement.WRIST, FS, 1, alert_on_anything())
    events = det.process(_quiet(10, rng)[None], 0.0)
    later = _quiet(20, rng)
    later[300] = [3.0, 3.0, 3.0]
    events += det.process(later[None], 100.0)  # 90 s of missing data
    gap = [e for e in events if isinstance(e, SensorFault)]
    assert [(e.kind, e.t) for e in gap] == [(FaultKind.GAP, 100.0)]
    (fall,) = [e for e in events if isinstance(e, FallEvent)]
    assert fall.t_impact == 100.0 + 300 / FS


def test_small_clock_jitter_is_not_a_gap() -> None:
    rng = np.random.default_rng(5)
    x = _quiet(20, rng)
    det = FallDetector(Placement.WRIST, FS, 1, alert_on_anything())
    events = []
    for k, i in enumerate(range(0, len(x), 50)):
        events += det.process(x[None, i : i + 50], i / FS + (0.03 if k % 2 else -0.02))
    assert events == []
