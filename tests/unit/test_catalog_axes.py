"""Per-model axis maps: a wearable with other axes gives the training frame's events once mapped."""

from __future__ import annotations

import numpy as np
import pytest

from analytics import synth
from analytics.events import FallEvent
from analytics.fall import FallDetector
from analytics.params import load_params
from hardware.catalog import (
    IDENTITY,
    MODELS,
    axis_matrix,
    get_model,
    to_detector_frame,
)
from hardware.errors import CatalogError
from kernel.placement import Placement


def test_axis_maps_are_proper_signed_permutations() -> None:
    assert axis_matrix(("-y", "x", "+z")).tolist() == [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
    for bad in (("x", "x", "z"), ("x", "y"), ("x", "y", "w"), ("x", "-", "z")):
        with pytest.raises(CatalogError):
            axis_matrix(bad)
    for m in MODELS.values():
        assert np.linalg.det(m.axis_matrix) == pytest.approx(1.0)  # real sensors: right-handed
    other = [m for m in MODELS.values() if m.axis_map != IDENTITY]
    assert other, "the catalog should hold a wearable whose axes differ from the training data"


def test_to_detector_frame_is_the_matrix_for_any_leading_shape() -> None:
    model = get_model("WB2-BLE")
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32)
    out = to_detector_frame(model, x)
    np.testing.assert_array_equal(out, x.astype(np.float64) @ model.axis_matrix.T)
    assert np.array_equal(to_detector_frame("WB-BLE", x), x.astype(np.float64))
    with pytest.raises(CatalogError):
        to_detector_frame(model, np.zeros((4, 2)))


def test_a_wearable_with_other_axes_gets_the_training_frame_events_once_mapped() -> None:
    model = get_model("WB2-BLE")
    fs = float(model.sample_rate_hz or 25.0)
    rng = np.random.default_rng(12)
    streams = []
    for _ in range(3):
        fall, _ = synth.fall(fs, Placement.WRIST, rng, after_s=20.0)
        walk = synth.walking(fs, 20.0, synth.UPRIGHT[Placement.WRIST], rng, amp=0.8)
        streams.append(np.concatenate([walk, fall]))
    train = np.stack(streams)  # (devices, samples, 3) in the detector's frame
    device = train @ model.axis_matrix  # what the band itself reports (inverse map)
    assert not np.allclose(device, train)
    params = load_params(Placement.WRIST)

    def run(x: np.ndarray) -> list[tuple[object, ...]]:
        events = FallDetector(Placement.WRIST, fs, 3, params).process(x, 0.0)
        return [(e.device, e.t_impact, e.confidence) for e in events
                if isinstance(e, FallEvent)]

    expected = run(train)
    assert len(expected) >= 2  # the shipped wrist model sees most synthetic falls
    assert run(to_detector_frame(model, device)) == expected
