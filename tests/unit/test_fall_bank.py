"""The detector bank: a changing set of devices keyed by uid, grouped by placement and rate."""

from __future__ import annotations

import numpy as np

from analytics import synth
from analytics.bank import DeviceBlock, FallBank
from analytics.events import FallEvent, FaultKind, SensorFault
from kernel.contract import AccBlock
from kernel.placement import Placement
from tests.unit.test_fall_detector import stub_params

FS = 50.0


def _bank() -> FallBank:
    return FallBank({p: stub_params(p) for p in Placement}, initial_rows=2)


def _ticks(streams: dict[str, tuple[np.ndarray, float]], seconds: int) -> list[list[DeviceBlock]]:
    ticks = []
    for s in range(seconds):
        blocks = []
        for uid, (x, fs) in streams.items():
            n = int(fs)
            if (s + 1) * n <= len(x):
                blocks.append(DeviceBlock(uid, 500.0 + s, fs, x[s * n : (s + 1) * n]))
        ticks.append(blocks)
    return ticks


def test_bank_finds_the_fall_of_the_right_device_across_groups() -> None:
    rng = np.random.default_rng(0)
    fall_w, impact = synth.fall(FS, Placement.WAIST, rng, after_s=40.0)
    fall_200, _ = synth.fall(200.0, Placement.WAIST, rng, after_s=40.0)
    walk = synth.walking(FS, 50.0, synth.UPRIGHT[Placement.WRIST], rng)
    bank = _bank()
    bank.add("belt-1", Placement.WAIST, FS)
    bank.add("belt-2", Placement.WAIST, 200.0)
    for i in range(5):
        bank.add(f"watch-{i}", Placement.WRIST, FS)
    streams = {"belt-1": (fall_w, FS), "belt-2": (fall_200, 200.0)}
    streams |= {f"watch-{i}": (walk, FS) for i in range(5)}
    events = [e for t in _ticks(streams, 45) for e in bank.process(t)]
    falls = {e.device: e for e in events if isinstance(e, FallEvent)}
    assert set(falls) == {"belt-1", "belt-2"}
    assert abs(falls["belt-1"].t_impact - (500.0 + impact / FS)) < 0.05
    assert len(bank) == 7
    assert bank.counters["blocks"] > 0


def test_rows_are_reused_and_a_new_device_starts_fresh() -> None:
    rng = np.random.default_rng(1)
    fall, _ = synth.fall(FS, Placement.WAIST, rng, after_s=30.0)
    bank = _bank()
    bank.add("a", Placement.WAIST, FS)
    bank.add("b", Placement.WAIST, FS)
    for tick in _ticks({"a": (fall, FS)}, 5):  # "a" is mid-walk when it leaves
        bank.process(tick)
    bank.remove("a")
    bank.add("c", Placement.WAIST, FS)  # takes over a's row
    events = [e for t in _ticks({"c": (fall, FS)}, 35) for e in bank.process(t)]
    assert [e.device for e in events if isinstance(e, FallEvent)] == ["c"]
    assert "a" not in bank
    assert "c" in bank


def test_rate_change_moves_the_device_and_reports_a_fault() -> None:
    rng = np.random.default_rng(2)
    bank = _bank()
    bank.add("w", Placement.WRIST, FS)
    x = synth.rest(100.0, 4.0, synth.UPRIGHT[Placement.WRIST], rng)
    assert bank.process([DeviceBlock("w", 0.0, FS, x[:50])]) == []
    events = bank.process([DeviceBlock("w", 1.0, 100.0, x[:100])])
    assert [(e.kind, e.device) for e in events if isinstance(e, SensorFault)] == [
        (FaultKind.RATE_CHANGE, "w")
    ]
    assert bank.process([DeviceBlock("w", 2.0, 100.0, x[100:200])]) == []
    assert bank.counters["rate_change"] == 1


def test_bad_blocks_are_counted_and_skipped() -> None:
    bank = _bank()
    bank.add("w", Placement.WRIST, FS)
    good = np.tile(synth.UPRIGHT[Placement.WRIST], (50, 1))
    bad = [
        DeviceBlock("nobody", 0.0, FS, good),
        DeviceBlock("w", 0.0, FS, good[:, :2]),
        DeviceBlock("w", 0.0, FS, good[:0]),
        DeviceBlock("w", float("nan"), FS, good),
        DeviceBlock("w", 0.0, 0.0, good),
        DeviceBlock("w", 0.0, FS, np.array([["a", "b", "c"]])),
    ]
    assert bank.process(bad) == []
    assert bank.counters["unknown_device"] == 1
    assert bank.counters["bad_block"] == 5
    assert bank.process([DeviceBlock("w", 0.0, FS, good)]) == []


def test_two_blocks_of_one_device_in_a_tick_run_in_order() -> None:
    rng = np.random.default_rng(3)
    fall, _ = synth.fall(FS, Placement.WAIST, rng, after_s=10.0)
    one, two = _bank(), _bank()
    one.add("d", Placement.WAIST, FS)
    two.add("d", Placement.WAIST, FS)
    seq = [DeviceBlock("d", i / FS, FS, fall[i : i + 25]) for i in range(0, len(fall) - 25, 25)]
    a = [e for b in seq for e in one.process([b])]
    b = [e for k in range(0, len(seq), 2) for e in two.process(seq[k : k + 2])]
    assert [e.t_impact for e in a if isinstance(e, FallEvent)] == [
        e.t_impact for e in b if isinstance(e, FallEvent)
    ]
    assert len([e for e in a if isinstance(e, FallEvent)]) == 1


def test_contract_acc_blocks_feed_the_bank() -> None:
    rng = np.random.default_rng(4)
    fall, _ = synth.fall(FS, Placement.WAIST, rng, after_s=10.0)
    counts = np.clip(np.round(fall * 256), -32768, 32767).astype(np.int16)
    bank = _bank()
    bank.add("dev-1", Placement.WAIST, FS)
    events = []
    for s in range(len(counts) // 50):
        blk = AccBlock("dev-1", int(s * 1e6), s, FS, 1 / 256, counts[s * 50 : (s + 1) * 50])
        events += bank.process_acc([AccBlock.decode(blk.encode())])
    assert [e.device for e in events if isinstance(e, FallEvent)] == ["dev-1"]
