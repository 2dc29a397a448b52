"""The technician's maintenance view in a real Chromium: send a test alarm for the bedside
button, press it (the simulated button's radio frame on the gateway's serial port), see "pass";
run ``status`` on the gateway and see its result; the pull cord's missed self-test becomes a
work order, which the technician claims and closes with a note."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import sign_in
from tests.fixtures.stack import HomeGateway, Stack
from tests.fixtures.staff import add_staff
from tests.fixtures.world import BUTTON, CORD, GATEWAY, World

pytestmark = pytest.mark.e2e


def test_installation_test_and_a_status_command(full_stack: Stack, home_gateway: HomeGateway,
                                                page: Page, world: World,
                                                artifacts: Path) -> None:
    add_staff(world)
    with world.connect() as conn:  # the pull cord was paired 9 days ago, never pressed since
        conn.execute("UPDATE devices SET paired_at = now() - interval '9 days' WHERE uid = %s",
                     (CORD,))
    sign_in(page, full_stack, "tina")
    page.get_by_test_id("tab-maintenance").click()
    view = page.get_by_test_id("maintenance")
    expect(view).to_contain_text("维护")

    view.get_by_test_id(f"maint-dev-{BUTTON}").get_by_test_id("maint-test-device").click()
    test = view.get_by_test_id(f"maint-testrow-{BUTTON}")
    expect(test).to_have_attribute("data-state", "pending")
    home_gateway.press(seq=21)  # the technician presses the bedside button
    expect(test).to_have_attribute("data-state", "pass")
    expect(test.get_by_test_id("maint-test-state")).to_have_text("通过")
    expect(test).to_contain_text("tina")

    view.get_by_test_id(f"maint-gw-{GATEWAY}").get_by_test_id("maint-cmd-status").click()
    command = view.get_by_test_id("maint-commands").get_by_test_id("maint-cmd-row").first
    expect(command).to_have_attribute("data-op", "status")
    expect(command).to_have_attribute("data-state", "ok")
    expect(command.get_by_test_id("maint-cmd-state")).to_have_text("成功")
    expect(command.get_by_test_id("maint-cmd-detail")).to_contain_text("待发 0")
    page.screenshot(path=artifacts / "console-maintenance.png")

    order = view.get_by_test_id("maint-orders").locator("tr[data-state]").first
    expect(order).to_have_attribute("data-state", "open")  # the upkeep job opened it
    expect(order).to_contain_text(CORD)
    expect(order).to_contain_text("错过自检")
    order.get_by_test_id("maint-order-claim").click()
    expect(order).to_have_attribute("data-state", "claimed")
    order.get_by_test_id("maint-order-note").fill("拉绳已测试，正常")
    order.get_by_test_id("maint-order-close").click()
    expect(order).to_have_attribute("data-state", "closed")
    expect(order).to_contain_text("拉绳已测试，正常")
