"""End to end: bytes of a button press on a pty → gateway → Mosquitto → ingest → PostgreSQL →
live feed → the console in Chromium → the operator claims, works and resolves the alert →
the database holds every transition, audited with the operator's name."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import low_battery, seed_day, sign_in
from tests.fixtures.stack import HomeGateway, Stack
from tests.fixtures.waiting import eventually_sync
from tests.fixtures.world import BUTTON, GATEWAY, World

pytestmark = pytest.mark.e2e


def test_a_button_press_is_claimed_worked_and_resolved_in_the_console(
        full_stack: Stack, home_gateway: HomeGateway, page: Page, world: World,
        artifacts: Path) -> None:
    seed_day(world)  # the resident's pendant: 24 h of heart rate, SpO2 and activity
    technical = low_battery(world)  # a P3 already waiting in the queue
    sign_in(page, full_stack, "alice")
    expect(page.get_by_test_id("live-status")).to_have_attribute("data-state", "up")
    rows = page.get_by_test_id("queue-row")
    expect(rows).to_have_count(1)

    home_gateway.press(seq=41)  # the elder presses the bedside button

    expect(rows).to_have_count(2)
    first = rows.first
    expect(first).to_have_attribute("data-priority", "P1")  # P1 above the older P3
    expect(first).to_contain_text("紧急呼叫")
    expect(first).to_contain_text("王秀英")
    expect(rows.nth(1)).to_have_attribute("data-alert-id", str(technical))
    expect(page.locator("body")).to_have_attribute("data-beeps", "1")
    alert_id = int(first.get_attribute("data-alert-id") or 0)

    detail = page.get_by_test_id("alert-detail")
    expect(detail).to_have_attribute("data-alert-id", str(alert_id))  # the top one is open
    expect(detail.get_by_test_id("resident-name")).to_have_text("王秀英")
    expect(detail.get_by_test_id("resident-address")).to_have_text("幸福路 8 号 3 单元 201")
    expect(detail.get_by_test_id("resident-conditions")).to_have_text("高血压")
    expect(detail.get_by_test_id("resident-medications")).to_have_text("氨氯地平")
    expect(detail.get_by_test_id("contact")).to_contain_text("13800000001")
    expect(detail.get_by_test_id("keysafe-code")).to_have_count(0)  # only on demand
    page.keyboard.press("j")  # down the queue and back
    expect(detail).to_have_attribute("data-alert-id", str(technical))
    page.keyboard.press("k")
    expect(detail).to_have_attribute("data-alert-id", str(alert_id))

    page.keyboard.press("c")  # claim
    expect(detail.get_by_test_id("detail-holder")).to_have_text("Alice")
    expect(first.get_by_test_id("holder")).to_contain_text("Alice")

    detail.get_by_test_id("keysafe-show").click()
    expect(detail.get_by_test_id("keysafe-code")).to_have_text("4711")

    detail.get_by_test_id("contact-call").click()  # called the son: no answer
    call = page.get_by_test_id("call-form")
    call.get_by_test_id("call_outcome-no_answer").check()
    call.get_by_test_id("dialog-submit").click()
    expect(call).to_be_hidden()

    page.keyboard.press("d")  # send the community worker
    dispatch = page.get_by_test_id("dispatch-form")
    page.keyboard.press("2")
    dispatch.get_by_test_id("dispatch-target").fill("李网格员 13900000002")
    dispatch.get_by_test_id("dialog-submit").click()
    expect(detail.get_by_test_id("detail-state")).to_have_text("已派单")
    detail.get_by_test_id("dispatch-arrived").click()
    expect(detail.get_by_test_id("dispatch-status")).to_have_text("已到达")

    page.keyboard.press("n")
    page.get_by_test_id("note-text").fill("网格员已到场，老人坐在床边，意识清楚，自述起身时头晕。")
    page.get_by_test_id("note-form").get_by_test_id("dialog-submit").click()
    expect(detail.locator('[data-testid="timeline-item"][data-action="note"]')).to_be_visible()

    vitals = detail.get_by_test_id("chart-vitals")
    expect(vitals.locator("polyline.hr")).to_have_count(2)  # the night it was off the wrist
    expect(detail.get_by_test_id("chart-activity").locator("rect.bar")).to_have_count(24)
    page.screenshot(path=artifacts / "console.png")

    page.keyboard.press("r")  # resolve: pick the outcome
    resolve = page.get_by_test_id("resolve-form")
    page.keyboard.press("1")
    expect(resolve.get_by_test_id("outcome-genuine")).to_be_checked()
    page.screenshot(path=artifacts / "console-resolve.png")
    resolve.get_by_test_id("dialog-note").fill("家属已联系上，网格员陪同")
    resolve.get_by_test_id("dialog-submit").click()
    expect(resolve).to_be_hidden()

    expect(rows).to_have_count(1)  # only the P3 is left
    expect(detail.get_by_test_id("detail-state")).to_have_text("已处理")
    expect(detail.get_by_test_id("detail-outcome")).to_have_text("真实求助")
    expect(detail.get_by_test_id("act-resolve")).to_be_disabled()

    with world.connect() as conn:
        alert = conn.execute("SELECT a.state, a.outcome, u.username, a.answered_at IS NOT NULL "
                             "FROM alerts a JOIN users u ON u.id = a.claimed_by WHERE a.id = %s",
                             (alert_id,)).fetchone()
        audit = conn.execute("SELECT action, actor, from_state, to_state, data->>'outcome' "
                             "FROM alert_audit WHERE alert_id = %s ORDER BY id",
                             (alert_id,)).fetchall()
        events = conn.execute("SELECT e.gateway_id, e.device, e.type, e.dseq FROM alert_events ae "
                              "JOIN events e ON e.id = ae.event_id WHERE ae.alert_id = %s",
                              (alert_id,)).fetchall()
    assert events == [(GATEWAY, BUTTON, "press", 41)]
    assert alert == ("resolved", "genuine", "alice", True)
    assert audit == [
        ("open", "system", "open", "open", None),
        ("claim", "Alice", "open", "claimed", None),
        ("reveal_key_safe", "Alice", "claimed", "claimed", None),
        ("call", "Alice", "claimed", "claimed", "no_answer"),
        ("dispatch", "Alice", "claimed", "dispatched", None),
        ("dispatch_status", "Alice", "dispatched", "dispatched", None),
        ("note", "Alice", "dispatched", "dispatched", None),
        ("resolve", "Alice", "dispatched", "resolved", "genuine"),
    ]
    # the server's application ack (after its commit) let the gateway forget the alarm
    eventually_sync(lambda: home_gateway.outbox_depth() == 0, 10, "the ack")
