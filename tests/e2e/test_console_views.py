"""The alert view of a fall, English, the keyboard, history search, and the supervisor's
answer-time report, in a real Chromium against a real server."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from kernel.contract import EventType
from server.alerts.model import Role
from server.auth.users import create_user
from tests.e2e.helpers import backdate, raise_event, row, seed_fall, sign_in
from tests.fixtures.stack import Stack
from tests.fixtures.world import PASSWORD, PENDANT, World

pytestmark = pytest.mark.e2e


def test_a_fall_by_keyboard_in_english_then_found_in_history(
        stack: Stack, page: Page, world: World, artifacts: Path) -> None:
    at = time.time() - 3
    seed_fall(world, at)
    fall = raise_event(world, EventType.FALL, device=PENDANT, ts=at)
    sign_in(page, stack, "bob")
    detail = page.get_by_test_id("alert-detail")
    expect(detail).to_have_attribute("data-alert-id", str(fall))
    expect(detail.get_by_test_id("detail-type")).to_have_text("跌倒")
    trace = detail.get_by_test_id("chart-acc")
    expect(trace.locator("polyline.acc")).to_have_count(1)
    expect(trace.get_by_test_id("fall-marker")).to_have_count(1)
    expect(trace).to_contain_text("跌倒时刻")
    expect(detail.get_by_test_id("chart-vitals")).to_contain_text("近 24 小时无数据")

    page.get_by_test_id("lang").click()
    expect(detail.get_by_test_id("detail-type")).to_have_text("Fall")
    expect(page.get_by_test_id("tab-queue")).to_contain_text("Queue")
    expect(trace).to_contain_text("fall")
    expect(row(page, fall)).to_contain_text("Open")
    expect(detail.locator("span.tag")).to_have_text(["aged 80+", "lives alone"])
    page.screenshot(path=artifacts / "console-fall-en.png")

    page.keyboard.press("?")
    expect(page.get_by_test_id("shortcuts")).to_contain_text("Claim the selected alert")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("shortcuts")).to_be_hidden()

    page.keyboard.press("r")  # not claimed yet: the console says so and does nothing
    expect(page.get_by_test_id("toast").last).to_have_text("Claim this alert first")
    expect(page.get_by_test_id("dialog")).to_be_hidden()

    page.keyboard.press("c")
    expect(detail.get_by_test_id("detail-holder")).to_have_text("Bob")
    page.keyboard.press("n")  # shortcuts do nothing while typing: "r" here is a letter
    page.get_by_test_id("note-text").press_sequentially("resident ok, sitting up")
    page.keyboard.press("Control+Enter")
    expect(detail.locator('[data-action="note"]')).to_contain_text("resident ok, sitting up")
    expect(page.get_by_test_id("dialog")).to_be_hidden()

    page.keyboard.press("r")
    page.keyboard.press("2")  # false alarm
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("dialog")).to_be_hidden()
    expect(detail.get_by_test_id("detail-outcome")).to_have_text("False alarm")
    expect(page.get_by_test_id("queue-row")).to_have_count(0)

    page.keyboard.press("m")  # mute: a new P1 still shows, without the beep
    expect(page.get_by_test_id("mute")).to_have_attribute("aria-pressed", "true")
    older = raise_event(world)  # another alert, still open, to be filtered out
    expect(row(page, older)).to_be_visible()
    expect(page.locator("body")).not_to_have_attribute("data-beeps", re.compile("."))
    page.get_by_test_id("tab-history").click()
    history = page.get_by_test_id("history-row")
    expect(history).to_have_count(2)
    form = page.get_by_test_id("history-form")
    form.locator('input[name="since"]').fill(time.strftime("%Y-%m-%d", time.localtime(
        time.time() + 3 * 86400)))  # from the day after tomorrow: nothing yet
    page.get_by_test_id("history-search").click()
    expect(page.get_by_test_id("history-empty")).to_be_visible()
    expect(history).to_have_count(0)
    form.locator('input[name="since"]').fill("")
    page.get_by_test_id("history-state").select_option("resolved")
    page.get_by_test_id("history-q").fill("王秀英")
    page.get_by_test_id("history-search").click()
    expect(history).to_have_count(1)
    expect(history.first).to_have_attribute("data-alert-id", str(fall))
    expect(history.first).to_contain_text("False alarm")
    history.first.click()
    past = page.get_by_test_id("detail-history").get_by_test_id("alert-detail")
    expect(past.locator('[data-testid="timeline-item"][data-action="resolve"]')).to_contain_text(
        "False alarm")
    page.screenshot(path=artifacts / "console-history-en.png")
    assert older != fall


def test_supervisor_answer_times_and_a_technicians_test_alerts(
        stack: Stack, page: Page, world: World, artifacts: Path) -> None:
    fast, _never = raise_event(world), raise_event(world, EventType.FALL, device=PENDANT)
    stack.client("alice").post(f"/api/alerts/{fast}/claim").raise_for_status()
    with world.connect() as conn:
        conn.execute("UPDATE alerts SET opened_at = answered_at - interval '12 seconds' "
                     "WHERE id = %s", (fast,))
    backdate(world, _never, 30)
    sign_in(page, stack, "sam")
    expect(page.get_by_test_id("role")).to_have_text("值班主管")
    page.get_by_test_id("tab-reports").click()
    report = page.get_by_test_id("report")
    expect(report.get_by_test_id("report-alarms")).to_contain_text("2")
    expect(report.get_by_test_id("report-answered")).to_contain_text("1")
    within60 = report.get_by_test_id("report-within60")
    expect(within60).to_contain_text("50.0%")
    expect(within60).to_contain_text("未达标")  # 97.5 % is the target
    expect(report.get_by_test_id("report-p50")).to_contain_text("12 秒")
    page.screenshot(path=artifacts / "console-reports.png")
    page.get_by_test_id("period-7d").check()
    expect(report.get_by_test_id("report-alarms")).to_contain_text("2")

    installation = raise_event(world, EventType.TEST)  # an installer's test press
    page.get_by_test_id("tab-queue").click()
    expect(page.get_by_test_id("queue-row")).to_have_count(2)  # not for the emergency queue
    with world.connect() as conn:
        create_user(conn, "tina", "Tina", Role.TECHNICIAN, PASSWORD, regions=(world.community,))
    page.get_by_test_id("logout").click()
    sign_in(page, stack, "tina")
    expect(page.get_by_test_id("tab-reports")).to_be_hidden()
    expect(row(page, installation).get_by_test_id("priority")).to_have_text("测试")
    expect(page.get_by_test_id("queue-row")).to_have_count(3)

    page.context.clear_cookies()  # the session is gone: the next request is a 401
    # the click's request, or one of the console's own (live feed, refresh) if it comes first
    page.get_by_test_id("tab-history").dispatch_event("click")
    expect(page.get_by_test_id("login-form")).to_be_visible()
    expect(page.get_by_test_id("login-error")).to_have_text("登录已过期，请重新登录")
    expect(page.get_by_test_id("app")).to_be_hidden()
