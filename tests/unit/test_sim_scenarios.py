"""Scenario files (parsing, clear errors) and the runner (scripted events arrive in order)."""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
from pathlib import Path

import numpy as np
import pytest
import serial

from firmware_sim.errors import ScenarioError
from firmware_sim.link import PtyLink
from firmware_sim.plan import Home
from firmware_sim.routine import Activity, format_clock, parse_clock
from firmware_sim.scenarios import (
    Report,
    ScenarioRunner,
    builtin_scenarios,
    find_scenario,
    load_scenario,
    parse_scenario,
)
from hardware import ble
from hardware.accel import AccelPacket
from hardware.frames import Deframer, Frame, MsgType, data_fields

SMALL = """
[scenario]
name = "small"
start = "10:00"
end = "10:00:40"
seed = 3

[[resident]]
name = "A"
routine = [
  { at = "00:00", room = "bedroom", activity = "sleeping" },
  { at = "09:00", room = "living", activity = "walking" },
]

[[device]]
name = "button"
model = "PB-433"
id = 0x0A1B2C3D

[[device]]
name = "cord"
model = "PC-433"
id = 0x0A1B2C3E

[[device]]
name = "pendant"
model = "WP-BLE"
address = "C8:2E:47:0A:1B:2C"

[[event]]
at = "10:00:05"
do = "press"
device = "button"
cancel_after = 3

[[event]]
at = "10:00:12"
do = "fall"
device = "pendant"

[[event]]
at = "10:00:20"
do = "long_press"
device = "cord"

[[event]]
at = "10:00:30"
do = "press"
device = "cord"
"""


def test_clock_times() -> None:
    assert parse_clock("10:02") == 36120
    assert parse_clock("7:05:30") == 25530
    assert parse_clock("24:00") == 86400
    assert format_clock(36125.7) == "10:02:05"
    for bad in ("10", "10:60", "24:01", "ten", "10:02:61"):
        with pytest.raises(ScenarioError):
            parse_clock(bad)


@pytest.mark.parametrize("name", ["demo", "day", "quiet"])
def test_shipped_scenarios_load(name: str) -> None:
    assert name in builtin_scenarios()
    scenario = find_scenario(name)
    assert scenario.scenario.name == name
    home = Home(scenario)
    assert home.rf
    assert home.wearables


def test_find_scenario_by_path_and_unknown(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(SMALL, encoding="utf-8")
    assert find_scenario(str(path)).scenario.name == "small"
    with pytest.raises(ScenarioError,
                       match=r"no scenario 'nope' \(shipped: day, demo, newhome, quiet"):
        find_scenario("nope")
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        load_scenario(tmp_path / "missing.toml")


BROKEN = [
    ("[scenario\n", "small.toml: not valid TOML"),
    ("[scenario]\nname='x'\ncolour='red'\n", "scenario.colour: Extra inputs are not permitted"),
    (SMALL.replace('model = "PB-433"', 'model = "PB-868"'),
     "device[0].model: unknown device model 'PB-868'"),
    (SMALL.replace('at = "10:00:05"', 'at = "25:00"'), "event[0].at: clock time '25:00'"),
    (SMALL.replace("0x0A1B2C3E", "0x0A1B2C3D"), "duplicate RF device id"),
    (SMALL.replace('device = "cord"\n\n[[event]]\nat = "10:00:30"', 'device = "kettle"\n\n'
                   '[[event]]\nat = "10:00:30"'), "unknown device 'kettle'"),
    (SMALL.replace('do = "fall"', 'do = "press"'), "event press: 'pendant' is a wearable"),
    (SMALL.replace("id = 0x0A1B2C3D\n", ""), "PB-433 is an RF device: give its id"),
    (SMALL.replace('address = "C8:2E:47:0A:1B:2C"\n', ""), "BLE wearable: give its address"),
    (SMALL.replace('address = "C8:2E:47:0A:1B:2C"', 'address = "C8:2E:47"'), "not a MAC"),
    (SMALL + '\n[[device]]\nname = "pir"\nmodel = "PIR-433"\nid = 5\n', "needs the room"),
    (SMALL.replace('end = "10:00:40"', 'end = "09:00"'), "end must be after its start"),
    (SMALL + '\n[[event]]\nat = "10:00"\ndo = "battery"\ndevice = "button"\n', "needs mv"),
    (SMALL + '\n[[event]]\nfrom = "10:00"\ndo = "quiet"\n', "'quiet' needs the resident"),
    (SMALL + '\n[[event]]\ndo = "press"\ndevice = "button"\n', "'press' needs at"),
    (SMALL.replace('activity = "walking"', 'activity = "dancing"'), "routine[1].activity"),
    (SMALL + '\n[[resident]]\nname = "B"\nroutine = [{ at = "00:00", room = "x" }]\n',
     "wearable 'pendant': say which resident wears it (residents: A, B)"),
    (SMALL.replace('address = "C8:2E:47:0A:1B:2C"',
                   'address = "C8:2E:47:0A:1B:2C"\nresident = "Z"'),
     "resident 'Z' not defined (residents: A)"),
]


@pytest.mark.parametrize(("text", "message"), BROKEN)
def test_bad_files_give_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "small.toml")
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("small.toml: ")


def test_plan_of_the_small_scenario() -> None:
    home = Home(parse_scenario(SMALL))
    plan = home.rf_plan(parse_clock("10:00"), parse_clock("10:00:40"))
    scripted = [(p.t, p.frame.type, p.frame.device_id) for p in plan
                if p.frame is not None and p.frame.type is not MsgType.SUPERVISION]
    assert scripted == [(36005.0, MsgType.PRESS, 0x0A1B2C3D), (36008.0, MsgType.CANCEL, 0x0A1B2C3D),
                        (36020.0, MsgType.LONG_PRESS, 0x0A1B2C3E),
                        (36030.0, MsgType.PRESS, 0x0A1B2C3E)]
    assert any(p.frame is None and "falls" in p.text and p.t == 36012.0 for p in plan)
    cord = [p.frame for p in plan if p.frame is not None and p.frame.device_id == 0x0A1B2C3E]
    assert all(data_fields(f) == {"input": "pull_cord"} for f in cord
               if f.type in (MsgType.PRESS, MsgType.LONG_PRESS))


def test_demo_plan_has_its_story() -> None:
    scenario = find_scenario("demo")
    home = Home(scenario)
    plan = home.rf_plan(scenario.scenario.start, scenario.scenario.end)
    kinds = [p.frame.type for p in plan if p.frame is not None]
    for kind in (MsgType.PRESS, MsgType.CANCEL, MsgType.LONG_PRESS, MsgType.LOW_BATTERY,
                 MsgType.TAMPER, MsgType.MOTION, MsgType.DOOR):
        assert kind in kinds
    low = [p for p in plan if p.frame is not None and p.frame.type is MsgType.LOW_BATTERY]
    assert [format_clock(p.t) for p in low] == ["10:03:00"]
    assert low[0].frame is not None
    assert low[0].frame.battery_mv < 2500
    seqs: dict[int, list[int]] = {}
    for p in plan:
        if p.frame is not None:
            seqs.setdefault(p.frame.device_id, []).append(p.frame.seq)
    for s in seqs.values():  # each device's sequence rises by one per frame, in time order
        assert [(b - a) % 65536 for a, b in itertools.pairwise(s)] == [1] * (len(s) - 1)


def test_day_scenario_story() -> None:
    scenario = find_scenario("day")
    home = Home(scenario)
    plan = home.rf_plan(0.0, 86_400.0)
    door = home.rf["front door"].device_id
    door_times = [p.t for p in plan if p.frame is not None and p.frame.device_id == door]
    assert door_times
    assert max(door_times) < parse_clock("15:10")  # silent from 15:10
    motion = [p.t for p in plan if p.frame is not None and p.frame.type is MsgType.MOTION]
    assert not [t for t in motion if parse_clock("14:00") <= t < parse_clock("17:00")]
    assert [t for t in motion if parse_clock("17:00") <= t < parse_clock("18:00")]
    pendant = home.wearables["pendant"]
    assert pendant.state(parse_clock("10:05")).activity is Activity.LYING
    assert pendant.state(parse_clock("10:30")).activity is not Activity.LYING


def test_quiet_scenario_nothing_moves_after_noon() -> None:
    scenario = find_scenario("quiet")
    home = Home(scenario)
    plan = home.rf_plan(scenario.scenario.start, scenario.scenario.end)
    moving = [p.t for p in plan if p.frame is not None
              and p.frame.type in (MsgType.MOTION, MsgType.DOOR)]
    assert any(t < parse_clock("12:00") for t in moving)
    assert not any(t >= parse_clock("12:00") for t in moving)
    band = home.wearables["wrist band"]
    t0 = parse_clock("15:00")
    assert float(np.linalg.norm(band.acceleration(t0, t0 + 600), axis=1).std()) < 0.02


def _read_frames(port: serial.SerialBase, want: int, stop: threading.Event) -> list[Frame]:
    deframer = Deframer()
    frames: list[Frame] = []
    port.timeout = 0.2
    while len([f for f in frames if f.type is not MsgType.SUPERVISION]) < want \
            and not stop.is_set():
        frames += deframer.feed(port.read(256))
    return frames


async def test_runner_delivers_scripted_events_in_order_over_a_pty() -> None:
    scenario = parse_scenario(SMALL)
    link = PtyLink()
    port = serial.serial_for_url(link.path, timeout=0.2)
    notes: list[tuple[str, str, bytes]] = []
    reports: list[Report] = []

    async def sink(address: str, uuid: str, payload: bytes) -> None:
        notes.append((address, uuid, payload))

    stop = threading.Event()
    reader = asyncio.create_task(asyncio.to_thread(_read_frames, port, 4, stop))
    try:
        runner = ScenarioRunner(scenario, link=link, ble_sink=sink, speed=400.0,
                                on_report=reports.append)
        summary = await runner.run()
        frames = await asyncio.wait_for(reader, 10)
    finally:
        stop.set()
        port.close()
        link.close()
    alarms = [(f.type, f.device_id) for f in frames if f.type is not MsgType.SUPERVISION]
    assert alarms == [(MsgType.PRESS, 0x0A1B2C3D), (MsgType.CANCEL, 0x0A1B2C3D),
                      (MsgType.LONG_PRESS, 0x0A1B2C3E), (MsgType.PRESS, 0x0A1B2C3E)]
    assert summary.frames["PRESS"] == 2
    assert summary.ended_at == parse_clock("10:00:40")
    assert [r.t for r in reports] == sorted(r.t for r in reports)
    assert any("falls" in r.text for r in reports)
    assert any(str(r).startswith("10:00:05 sent press from rf-0a1b2c3d (button)") for r in reports)
    assert {a for a, _, _ in notes} == {"C8:2E:47:0A:1B:2C"}
    accel = [ble.parse_accel(p) for _, u, p in notes if u == ble.ACCEL_CHAR]
    assert len(accel) == 80  # 40 s of 0.5 s blocks
    g = np.concatenate([p.g() for p in accel if isinstance(p, AccelPacket)])
    mag = np.linalg.norm(g, axis=1)
    assert mag.max() > 3.0  # the fall's impact went out over BLE
    assert summary.notifications[ble.HEART_RATE_MEASUREMENT] == 40


async def test_skip_to_drops_what_lies_between() -> None:
    scenario = parse_scenario(SMALL)
    reports: list[Report] = []
    runner = ScenarioRunner(scenario, speed=math.inf, on_report=reports.append)

    def on_report(report: Report) -> None:
        reports.append(report)
        if "cancel" in report.text:
            runner.skip_to(parse_clock("10:00:25"))

    runner.on_report = on_report
    await runner.run()
    texts = [r.text for r in reports]
    assert any("cancel" in t for t in texts)
    assert any(t.startswith("skip to 10:00:25") for t in texts)
    assert not any("long press" in t for t in texts)  # 10:00:20 was skipped
    assert any("press from rf-0a1b2c3e" in t for t in texts)  # 10:00:30 was not


def test_runner_rejects_a_bad_run() -> None:
    with pytest.raises(ScenarioError, match="bad run"):
        ScenarioRunner(parse_scenario(SMALL), speed=0)
