"""The streaming fall detector: block-split invariance, detection, got-up, refractory."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from analytics import synth
from analytics.errors import InputError
from analytics.events import FallEvent, FallResolved
from analytics.fall import FallDetector
from analytics.features import FEATURE_NAMES
from analytics.offline import run_trial
from analytics.params import FallParams, ForestSpec, load_params
from kernel.placement import Placement

FS = 50.0


def stub_params(placement: Placement = Placement.WAIST, **kw: float) -> FallParams:
    """A hand-made model: alert when the posture turned > 50 deg and the aftermath is still."""
    tilt, still = FEATURE_NAMES.index("tilt_change_deg"), FEATURE_NAMES.index("post_std_g")
    model = ForestSpec(
        base=0.0,
        feature=[[tilt, -1, -1], [still, -1, -1]],
        threshold=[[50.0, 0.0, 0.0], [0.1, 0.0, 0.0]],
        value=[[0.0, -5.0, 5.0], [0.0, 5.0, -5.0]],
    )
    args = {"candidate_g": 1.5, "post_s": 2.0, "alert_threshold": 5.0, **kw}
    return FallParams(placement=placement, model=model, **args)  # type: ignore[arg-type]


def _events_key(events: Sequence[object]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for e in events:
        if isinstance(e, FallEvent):
            out.append(("fall", e.device, round(e.t_impact, 6), round(e.confidence, 9)))
        elif isinstance(e, FallResolved):
            out.append(("resolved", e.device, round(e.t_resolved, 6), e.got_up))
    return sorted(out, key=str)


def _run_blocks(det: FallDetector, x: np.ndarray, fs: float, sizes: list[int]) -> list[object]:
    events: list[object] = []
    i = 0
    for n in sizes:
        if i >= x.shape[1]:
            break
        events += det.process(x[:, i : i + n], 1000.0 + i / fs)
        i += n
    return events


@pytest.mark.parametrize(("placement", "fs"), [(Placement.WAIST, 200.0), (Placement.WRIST, 50.0),
                                               (Placement.WAIST, 52.0)])
def test_one_second_blocks_give_the_same_events_as_one_array(placement: Placement,
                                                             fs: float) -> None:
    rng = np.random.default_rng(4)
    params = stub_params(placement)
    streams = []
    for d in range(4):
        fall, _ = synth.fall(fs, placement, rng, after_s=70.0 if d % 2 else 10.0)
        up = synth.get_up(fs, placement, rng, seconds=40.0)
        walk = synth.walking(fs, 120.0, synth.UPRIGHT[placement], rng)
        streams.append(np.concatenate([fall, up, walk])[: int(120 * fs)])
    x = np.stack(streams)
    whole = FallDetector(placement, fs, 4, params, max_block_s=1e6).process(x, 1000.0)
    by_second = _run_blocks(FallDetector(placement, fs, 4, params), x, fs,
                            [int(fs)] * 200)
    sizes = rng.integers(1, int(3 * fs), size=500).tolist()
    ragged = _run_blocks(FallDetector(placement, fs, 4, params), x, fs, sizes)
    assert len([e for e in whole if isinstance(e, FallEvent)]) == 4
    assert _events_key(whole) == _events_key(by_second) == _events_key(ragged)


def test_stub_model_event_fields_and_timing() -> None:
    rng = np.random.default_rng(5)
    acc, impact = synth.fall(FS, Placement.WAIST, rng)
    run = run_trial(acc, FS, Placement.WAIST, stub_params(), t0=100.0)
    (event,) = run.alerts
    assert event.device == 0
    assert event.placement == Placement.WAIST
    assert event.t_impact == pytest.approx(100.0 + impact / FS, abs=0.05)
    assert event.t_decision == pytest.approx(event.t_impact + 2.0)
    assert 0.5 < event.confidence <= 1.0
    assert set(event.features) == set(FEATURE_NAMES)
    assert event.features["tilt_change_deg"] > 50
    assert event.features["peak_g"] > 3
    assert event.got_up is None


def test_got_up_is_resolved_later_and_lying_still_is_not() -> None:
    rng = np.random.default_rng(6)
    fall, impact = synth.fall(FS, Placement.WAIST, rng, after_s=10.0)
    up = synth.get_up(FS, Placement.WAIST, rng, seconds=60.0)
    lying, _ = synth.fall(FS, Placement.WAIST, rng, after_s=70.0)
    x = np.stack([np.concatenate([fall, up])[: len(lying)], lying])
    events = FallDetector(Placement.WAIST, FS, 2, stub_params(), max_block_s=1.0).process(x, 0.0)
    falls = [e for e in events if isinstance(e, FallEvent)]
    resolved = {e.device: e for e in events if isinstance(e, FallResolved)}
    assert {e.device for e in falls} == {0, 1}
    assert resolved[0].got_up is True
    assert resolved[0].t_impact == falls[0].t_impact if falls[0].device == 0 else True
    assert resolved[0].t_resolved < impact / FS + 60.0
    assert resolved[1].got_up is False
    assert resolved[1].t_resolved == pytest.approx(resolved[1].t_impact + 60.0)


def test_refractory_allows_one_alert_per_minute_per_device() -> None:
    rng = np.random.default_rng(7)
    a, _ = synth.fall(FS, Placement.WAIST, rng, after_s=10.0)  # b falls 17 s after a: suppressed
    b, _ = synth.fall(FS, Placement.WAIST, rng, after_s=70.0)  # c falls 94 s after a: alerts
    c, _ = synth.fall(FS, Placement.WAIST, rng, after_s=10.0)
    run = run_trial(np.concatenate([a, b, c]), FS, Placement.WAIST, stub_params(),
                    keep_candidates=True)
    assert len([c for c in run.candidates if c.score >= 5.0]) == 3
    assert len(run.alerts) == 2
    assert run.alerts[1].t_impact - run.alerts[0].t_impact == pytest.approx(94.0, abs=0.5)


def test_shipped_models_on_synthetic_waist_signals() -> None:
    rng = np.random.default_rng(8)
    params = load_params(Placement.WAIST)
    for _ in range(5):
        acc, impact = synth.fall(FS, Placement.WAIST, rng)
        (event,) = run_trial(acc, FS, Placement.WAIST, params).alerts
        assert abs(event.t_impact - impact / FS) < 0.2
    quiet = [
        synth.walking(FS, 120.0, synth.UPRIGHT[Placement.WAIST], rng, amp=0.6),
        synth.sit_down(FS, Placement.WAIST, rng),
        synth.rest(FS, 60.0, synth.LYING[Placement.WAIST], rng),
    ]
    for adl in quiet:
        assert run_trial(adl, FS, Placement.WAIST, params).alerts == ()


def test_shipped_wrist_model_ignores_clapping() -> None:
    rng = np.random.default_rng(9)
    run = run_trial(synth.clapping(FS, 30.0, rng), FS, Placement.WRIST,
                    load_params(Placement.WRIST), keep_candidates=True)
    assert len(run.candidates) > 5
    assert run.alerts == ()


def test_only_the_device_that_fell_alerts() -> None:
    rng = np.random.default_rng(10)
    fall, _ = synth.fall(FS, Placement.WAIST, rng)
    up = synth.UPRIGHT[Placement.WAIST]
    others = [synth.walking(FS, len(fall) / FS, up, rng) for _ in range(5)]
    x = np.stack([*others[:3], fall, *others[3:]])
    events = FallDetector(Placement.WAIST, FS, 6, stub_params()).process(x, 0.0)
    assert [e.device for e in events if isinstance(e, FallEvent)] == [3]


def test_wrong_shapes_and_rows_raise_input_error() -> None:
    det = FallDetector(Placement.WAIST, FS, 2, stub_params())
    with pytest.raises(InputError):
        det.process(np.zeros((3, 50, 3)), 0.0)
    with pytest.raises(InputError):
        det.process(np.zeros((2, 50)), 0.0)
    with pytest.raises(InputError):
        det.process(np.zeros((1, 50, 3)), 0.0, rows=[5])
    with pytest.raises(InputError):
        det.process(np.zeros((2, 50, 3)), 0.0, rows=[1, 1])
    with pytest.raises(InputError):
        det.process(np.zeros((2, 50, 3)), float("nan"))
    with pytest.raises(InputError):
        FallDetector("ankle", FS, 1)  # type: ignore[arg-type]
