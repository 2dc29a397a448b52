"""Simulated wearers react to their wearable alerting: the Alert Level written over the air is
recorded, reported, and answered with the scenario's button."""

from __future__ import annotations

import math

import pytest

from firmware_sim.errors import ScenarioError
from firmware_sim.routine import parse_clock
from firmware_sim.scenarios import Report, ScenarioRunner, find_scenario, parse_scenario
from hardware import ble
from hardware.ble import AlertLevel
from tests.unit.test_sim_scenarios import SMALL

ANSWERING = SMALL.replace('address = "C8:2E:47:0A:1B:2C"\n', '''address = "C8:2E:47:0A:1B:2C"
answer_with = "button"
answer_after = 4
''')
ADDRESS = "C8:2E:47:0A:1B:2C"


async def test_the_wearer_answers_their_wearables_alert_with_their_button() -> None:
    runner = ScenarioRunner(parse_scenario(ANSWERING), speed=math.inf)
    reports: list[Report] = []

    def on_report(report: Report) -> None:
        reports.append(report)
        if "falls" in report.text:  # the gateway found the fall: it asks the wearer
            runner.on_ble_write(ADDRESS, ble.ALERT_LEVEL, ble.encode_alert_level(AlertLevel.HIGH))
            runner.on_ble_write(ADDRESS, ble.ALERT_LEVEL, b"\x07")  # reserved: ignored
            runner.on_ble_write(ADDRESS, ble.BATTERY_LEVEL, b"\x01")  # not writable: ignored

    runner.on_report = on_report
    await runner.run()
    pendant = runner.home.wearables["pendant"]
    fell = parse_clock("10:00:12")
    assert pendant.alerts == [(fell, AlertLevel.HIGH)]
    assert pendant.alerting is AlertLevel.HIGH
    texts = [str(r) for r in reports]
    assert "10:00:12 pendant (ble-c82e470a1b2c) alerts its wearer (high alert: beeps and " \
           "vibrates)" in texts
    answers = [r for r in reports if "answers pendant's alert" in r.text]
    assert [(r.t, r.device) for r in answers] == [(fell + 4, "rf-0a1b2c3d")]
    assert "(no link) press from rf-0a1b2c3d (button)" in answers[0].text
    assert sum("ignores" in t for t in texts) == 2


async def test_a_wearer_without_an_answer_only_hears_the_alert() -> None:
    runner = ScenarioRunner(parse_scenario(SMALL), speed=math.inf)
    reports: list[Report] = []
    runner.on_report = reports.append
    runner.on_ble_write(ADDRESS, ble.ALERT_LEVEL, b"\x01")
    runner.on_ble_write(ADDRESS, ble.ALERT_LEVEL, b"\x00")
    runner.on_ble_write("00:11:22:33:44:55", ble.ALERT_LEVEL, b"\x02")  # not in this home
    await runner.run()
    assert [level for _, level in runner.home.wearables["pendant"].alerts] == [
        AlertLevel.MILD, AlertLevel.NONE]
    assert not any("answers" in r.text for r in reports)


@pytest.mark.parametrize(("answer", "message"), [
    ("cord", "is not a panic button of this home"),
    ("nobody", "is not a panic button of this home"),
])
def test_answer_with_names_a_panic_button(answer: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(ANSWERING.replace('answer_with = "button"', f'answer_with = "{answer}"'))


def test_only_wearables_answer() -> None:
    text = SMALL.replace('id = 0x0A1B2C3E\n', 'id = 0x0A1B2C3E\nanswer_with = "button"\n')
    with pytest.raises(ScenarioError, match="only a wearable alerts its wearer"):
        parse_scenario(text)


def test_the_demo_wearer_who_answers() -> None:
    """李爷爷 answers his band with the bedside button; 王奶奶 does not answer her pendant."""
    demo = find_scenario("demo")
    answering = {d.name: d.answer_with for d in demo.device if d.kind.value == "wearable"}
    assert answering == {"王奶奶's pendant": None, "李爷爷's wrist band": "bedside button"}
