"""Simulated RF devices: the frames they emit decode with hardware/ and carry the right fields."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_sim.button import PanicButton, PullCord
from firmware_sim.motion import DoorSensor, PirSensor
from firmware_sim.rf import Battery, RfDevice
from firmware_sim.routine import DAY, OUT, Activity, Segment, Timeline
from hardware.catalog import battery_mv, get_model
from hardware.frames import Deframer, Input, MsgType, data_fields, decode_frame, encode_frame


def test_button_frames_decode_with_the_right_fields() -> None:
    button = PanicButton(0x0A1B2C3D, seed=3, rssi_dbm=-70)
    frames = [button.press(10.0), button.cancel(20.0), button.long_press(30.0)]
    wire = b"".join(encode_frame(f) for f in frames)
    decoded = Deframer().feed(wire)
    assert decoded == frames
    assert [f.type for f in decoded] == [MsgType.PRESS, MsgType.CANCEL, MsgType.LONG_PRESS]
    assert {f.device_id for f in decoded} == {0x0A1B2C3D}
    assert [(f.seq - decoded[0].seq) % 65536 for f in decoded] == [0, 1, 2]
    assert data_fields(decoded[0]) == {"input": "main"}
    assert all(-90 < f.rssi < -50 for f in decoded)
    assert decoded[0].battery_mv == button.battery.mv(10.0)


def test_pull_cord_reports_its_input() -> None:
    frame = PullCord(0x0A1B2C3E).press(0.0)
    assert frame.data == bytes([Input.PULL_CORD])
    assert data_fields(frame) == {"input": "pull_cord"}


def test_sequence_wraps_after_65535() -> None:
    device = PanicButton(1)
    device.seq = 0xFFFF
    assert [device.press(0).seq, device.press(1).seq, device.press(2).seq] == [65535, 0, 1]
    assert decode_frame(device.wire(3.0, MsgType.SUPERVISION, b"\x01\x04"))[0] is not None


def test_rssi_noise_is_seeded() -> None:
    a = [PanicButton(7, seed=1).press(0).rssi for _ in range(3)]
    b = [PanicButton(7, seed=1).press(0).rssi for _ in range(3)]
    assert a == b
    spread = [PanicButton(7, seed=s, rssi_dbm=-60).press(0).rssi for s in range(200)]
    assert abs(float(np.mean(spread)) + 60) < 1.0
    assert 1.5 < float(np.std(spread)) < 4


def test_supervision_follows_the_model_interval() -> None:
    device = PanicButton(5, seed=2)
    times = device.supervision_times(0.0, 7200.0)
    assert np.allclose(np.diff(times), get_model("PB-433").supervision_interval_s)
    assert 0 <= times[0] < 900
    assert device.supervision_times(1000.0, 2000.0) == [t for t in times if 1000 <= t < 2000]
    frame = device.supervision(times[0])
    assert data_fields(frame) == {"firmware": "1.4"}


def test_battery_drains_and_crosses_low_once() -> None:
    model = get_model("PB-433")
    battery = Battery(model, [(0.0, 2600)], drain=1000.0)  # 3 years in ~1 day
    assert battery.mv(0.0) == 2600
    assert battery.mv(3600.0) < 2600
    crossings = battery.low_crossings(0.0, DAY)
    assert len(crossings) == 1
    t = crossings[0]
    assert not battery.is_low(t - 2)
    assert battery.is_low(t)
    assert battery.mv(t) <= model.low_battery_mv


def test_scripted_battery_drop_and_a_battery_that_starts_low() -> None:
    model = get_model("PIR-433")
    battery = Battery(model, [(0.0, 2900), (500.0, 2450)])
    assert battery.low_crossings(0.0, DAY) == [500.0]
    assert Battery(model, [(0.0, 2400)]).low_crossings(0.0, DAY) == []
    assert Battery(model, [(0.0, 2400)]).is_low(0.0)


def _timeline(*entries: tuple[float, str, Activity]) -> Timeline:
    return Timeline([Segment(t, room, act) for t, room, act in entries])


def test_pir_sees_walking_in_its_room_and_sleeps_between_reports() -> None:
    home = _timeline((0.0, "bedroom", Activity.SLEEPING), (3600.0, "living", Activity.WALKING),
                     (7200.0, OUT, Activity.WALKING), (9000.0, "living", Activity.SITTING))
    pir = PirSensor(0x1C000001, "living", seed=4, lockout_s=60)
    reports = pir.reports([home], 0.0, 10_800.0)
    times = [t for t, _ in reports]
    assert times
    assert 3600 <= times[0] < 3603  # walking in is seen at once
    assert all(3600 <= t < 7200 or t >= 9000 for t in times)
    assert min(np.diff(times)) >= 60
    walking = [c for t, c in reports if t < 7200]
    assert sum(walking) > 200  # ~1 detection / 10 s for an hour, most counted during lockout
    frame = pir.motion(times[0], reports[0][1])
    assert data_fields(frame) == {"count": reports[0][1]}


def test_pir_sees_nothing_while_the_resident_keeps_still() -> None:
    home = _timeline((0.0, "living", Activity.WALKING)).override(1000.0, 5000.0)
    pir = PirSensor(0x1C000001, "living", seed=4)
    times = [t for t, _ in pir.reports([home], 0.0, 6000.0)]
    assert any(t < 1000 for t in times)
    assert any(t >= 5000 for t in times)
    assert not any(1000 <= t < 5000 for t in times)


def test_door_opens_and_closes_when_going_out_and_coming_home() -> None:
    home = _timeline((0.0, "hall", Activity.WALKING), (100.0, OUT, Activity.WALKING),
                     (500.0, "hall", Activity.WALKING))
    door = DoorSensor(0x2D000001, seed=1)
    moves = door.movements([home], 0.0, 1000.0)
    assert [o for _, o in moves] == [True, False, True, False]
    assert moves[0][0] == 100.0
    assert moves[2][0] == 500.0
    assert 4 <= moves[1][0] - 100 <= 12
    assert data_fields(door.door(100.0, True)) == {"open": True}


def test_rf_device_battery_defaults_near_full() -> None:
    device = RfDevice(9, get_model("DS-433"))
    assert device.model.low_battery_mv < device.battery.mv(0.0) <= device.model.full_mv
    assert battery_mv(device.model, 100) == device.model.full_mv
    assert device.tamper(0.0).data == b"\x01"


@pytest.mark.parametrize("cls", [PanicButton, PullCord])
def test_button_models(cls: type[PanicButton]) -> None:
    assert cls(1).model.id == cls.MODEL
