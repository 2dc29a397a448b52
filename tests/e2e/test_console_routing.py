"""Alarms from an unknown device and alarms without a place, as operators see them in a real
Chromium against a real server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from kernel.contract import EventType
from server.alerts import engine
from server.directory import GatewayIn, add_gateway
from server.store import insert_events
from tests.e2e.helpers import row, sign_in
from tests.fixtures.ingest import make_event
from tests.fixtures.stack import Stack
from tests.fixtures.world import GATEWAY, World

pytestmark = pytest.mark.e2e

STRANGER = "rf-99999999"


def press(world: World, gateway: str, device: str) -> int:
    event = make_event(gateway, 1, EventType.PRESS, device)
    with world.connect() as conn, conn.transaction():
        insert_events(conn, [event], time.time())
        (alert_id,) = engine.on_events(conn, [event])
        return alert_id


def test_an_unknown_device_at_home_and_an_unplaced_alarm(
        stack: Stack, page: Page, world: World, artifacts: Path) -> None:
    with world.connect() as conn:
        add_gateway(conn, GatewayIn(id="gw-spare-0001"))  # not installed in any home yet
    at_home = press(world, GATEWAY, STRANGER)
    unplaced = press(world, "gw-spare-0001", STRANGER)

    sign_in(page, stack, "olga")  # an operator of another community
    expect(page.get_by_test_id("queue-row")).to_have_count(1)
    queued = row(page, unplaced)
    expect(queued.get_by_test_id("unassigned")).to_have_text("未分配")
    expect(queued.get_by_test_id("unknown-device")).to_have_text("未知设备，已按下")
    queued.click()
    detail = page.get_by_test_id("alert-detail")
    expect(detail).to_have_attribute("data-alert-id", str(unplaced))
    expect(detail.get_by_test_id("detail-unassigned")).to_contain_text("未分配")
    expect(detail.get_by_test_id("detail-gateway")).to_have_text("gw-spare-0001")
    expect(detail.get_by_test_id("detail-unknown-device")).to_have_text("未知设备，已按下")
    expect(detail.get_by_test_id("device-unknown")).to_contain_text(STRANGER)
    expect(detail.get_by_test_id("device-unknown")).to_contain_text("已按下")
    page.get_by_test_id("act-claim").click()
    expect(detail.get_by_test_id("detail-holder")).to_have_text("Olga")
    page.screenshot(path=artifacts / "console-unplaced-unknown-device.png")

    page.get_by_test_id("lang").click()
    expect(detail.get_by_test_id("detail-unknown-device")).to_have_text(
        "unknown device, pressed")

    page.context.clear_cookies()
    sign_in(page, stack, "alice")  # the home's community: both alarms are hers to see
    expect(page.get_by_test_id("queue-row")).to_have_count(2)
    home_row = row(page, at_home)
    expect(home_row).to_contain_text("幸福路 8 号 3 单元 201")
    expect(home_row.get_by_test_id("unknown-device")).to_be_visible()
    expect(home_row.get_by_test_id("unassigned")).to_have_count(0)
