"""The wearer's side of alerts in a real Chromium: a fall whose wearer may cancel (a live
countdown), the same fall cancelled by the wearer (still in the queue, P2, with the prompt and
the cancel on its timeline), and an answered inactivity pre-warning in history — in zh-CN and
English."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from kernel.contract import AFTER_S, ANSWERS, PROMPT, EventType
from server.alerts import engine, service
from server.store import insert_events, insert_server_event
from tests.e2e.helpers import row, sign_in
from tests.fixtures.ingest import make_event
from tests.fixtures.stack import Stack
from tests.fixtures.world import BUTTON, GATEWAY, PENDANT, World

pytestmark = pytest.mark.e2e


def press(world: World, n: int, **data: Any) -> list[int]:
    event = make_event(GATEWAY, n, EventType.PRESS, BUTTON).model_copy(update={"data": data})
    with world.connect() as conn, conn.transaction():
        insert_events(conn, [event], time.time())
        return engine.on_events(conn, [event])


def test_the_wearer_prompt_the_cancel_and_an_answered_prewarning(
        stack: Stack, page: Page, world: World, artifacts: Path) -> None:
    t = time.time() - 2
    with world.connect() as conn, conn.transaction():
        fall = insert_server_event(conn, GATEWAY, PENDANT, EventType.FALL, t, {
            "confidence": 0.93, "placement": "waist", "t_impact": t, "cancel_window_s": 30.0})
        (alert_id,) = engine.on_events(conn, [fall])
        service.prompt_wearer(conn, alert_id, device=PENDANT, window_s=30, via="server",
                              ref=fall.id)

    sign_in(page, stack, "alice")
    queued = row(page, alert_id)
    expect(queued.get_by_test_id("wearer-prompt")).to_contain_text("秒内可取消")
    expect(queued.get_by_test_id("priority")).to_have_text("P1")

    assert press(world, 1, **{ANSWERS: "fall", PROMPT: fall.id, AFTER_S: 7.5}) == [alert_id]
    expect(queued.get_by_test_id("wearer-cancelled")).to_have_text("佩戴者已取消 · 请回电")
    expect(queued.get_by_test_id("priority")).not_to_have_text("P1")
    queued.click()
    detail = page.get_by_test_id("alert-detail")
    expect(detail.get_by_test_id("wearer-cancelled")).to_be_visible()
    expect(detail.get_by_test_id("detail-state")).to_have_text("待认领")
    timeline = detail.get_by_test_id("timeline")
    expect(timeline.locator('[data-action="prompt_wearer"]')).to_contain_text("秒内可按键取消")
    expect(timeline.locator('[data-action="press"]')).to_contain_text("我没事")
    expect(timeline.locator('[data-action="wearer_cancel"]')).to_contain_text("佩戴者已取消")
    expect(timeline.locator('[data-action="wearer_cancel"]')).to_contain_text("8 秒")
    page.screenshot(path=artifacts / "console-fall-cancelled-by-wearer-zh.png")

    page.get_by_test_id("lang").click()
    expect(detail.get_by_test_id("wearer-cancelled")).to_have_text(
        "Cancelled by the wearer · call back")
    expect(timeline.locator('[data-action="prompt_wearer"]')).to_contain_text("Wearer alerted")
    expect(timeline.locator('[data-action="wearer_cancel"]')).to_contain_text("call back")
    page.screenshot(path=artifacts / "console-fall-cancelled-by-wearer-en.png")

    (record,) = press(world, 2, **{ANSWERS: "prewarn", PROMPT: "prewarn-e2e", AFTER_S: 12.0,
                                   "resident": world.resident, "rule": "continuous_4h",
                                   "inactive_min": 225})
    expect(page.get_by_test_id("queue-row")).to_have_count(1)  # the record is not queued
    page.get_by_test_id("tab-history").click()
    answered = page.locator(f'[data-testid="history-row"][data-alert-id="{record}"]')
    expect(answered.get_by_test_id("prewarning-answered")).to_have_text(
        "Inactivity pre-warning · answered")
    answered.click()
    past = page.get_by_test_id("detail-history").get_by_test_id("alert-detail")
    expect(past.locator('[data-action="cancel"]')).to_contain_text("12 s after being asked")
    expect(past.locator('[data-action="press"]')).to_contain_text("pre-warning")
    expect(past.locator('[data-action="prompt_wearer"]')).to_contain_text("Resident asked")
    page.screenshot(path=artifacts / "console-prewarning-answered-en.png")
    page.get_by_test_id("lang").click()
    expect(past.get_by_test_id("prewarning-answered")).to_have_text("无活动预警 · 老人已应答")
    page.screenshot(path=artifacts / "console-prewarning-answered-zh.png")
