"""The console's live behaviour in a real Chromium against a real server (no ingest workers:
alerts are raised through the alert engine, as ingest would)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, WebSocketRoute, expect

from kernel.contract import EventType
from tests.e2e.helpers import backdate, raise_event, row, sign_in
from tests.fixtures.stack import Stack
from tests.fixtures.world import PENDANT, World

pytestmark = pytest.mark.e2e


def test_queue_updates_live_timer_turns_amber_then_red_and_a_lost_race_shows_the_holder(
        stack: Stack, page: Page, world: World) -> None:
    sign_in(page, stack, "alice")
    expect(page.get_by_test_id("live-status")).to_have_attribute("data-state", "up")
    expect(page.get_by_test_id("queue-empty")).to_be_visible()
    page.evaluate("() => { window.notReloaded = true; }")

    alert_id = raise_event(world)
    alert = row(page, alert_id)
    expect(alert).to_contain_text("王秀英")
    expect(alert).to_contain_text("紧急呼叫")
    age = alert.get_by_test_id("age")
    expect(age).to_have_text(re.compile(r"^00:0\d$"))
    expect(age).not_to_have_class(re.compile(r"age-(warn|late)"))
    expect(page.locator("body")).to_have_attribute("data-beeps", "1")  # a new P1 beeps

    backdate(world, alert_id, 50)
    raise_event(world)  # pressed again: the same alert, bumped (and announced)
    expect(alert).to_contain_text("×2")
    expect(age).to_have_class(re.compile(r"\bage-warn\b"))
    expect(page.locator("body")).to_have_attribute("data-beeps", "1")  # not a new alert

    backdate(world, alert_id, 65)  # past 60 s: the server escalates it, the console shows it
    expect(alert.get_by_test_id("escalated")).to_be_visible()
    expect(page.get_by_test_id("timeline").locator('[data-action="escalate"]')).to_contain_text(
        "60 秒内无人认领，已通知主管")  # the system's note, in the console's language
    expect(age).to_have_class(re.compile(r"\bage-late\b"))

    # Bob claims it between Alice's click and her request reaching the server.
    bob = stack.client("bob")

    def bob_first(route: Route) -> None:
        bob.post(f"/api/alerts/{alert_id}/claim").raise_for_status()
        route.continue_()

    page.route(f"**/api/alerts/{alert_id}/claim", bob_first)
    page.get_by_test_id("act-claim").click()
    expect(page.get_by_test_id("action-error")).to_contain_text("已被 Bob 认领")
    expect(page.get_by_test_id("detail-holder")).to_have_text("Bob")
    expect(alert.get_by_test_id("holder")).to_contain_text("Bob")
    expect(age).not_to_have_class(re.compile(r"age-(warn|late)"))  # answered: no colour
    with world.connect() as conn:
        claims = conn.execute("SELECT actor FROM alert_audit WHERE alert_id = %s "
                              "AND action = 'claim'", (alert_id,)).fetchall()
        holder = conn.execute("SELECT u.username FROM alerts a JOIN users u ON "
                              "u.id = a.claimed_by WHERE a.id = %s", (alert_id,)).fetchone()
    assert claims == [("Bob",)], "the lost claim changed nothing"
    assert holder == ("bob",)
    assert page.evaluate("() => window.notReloaded === true"), "all of it arrived live"


def test_a_dropped_live_connection_shows_the_banner_and_loses_no_alert(
        stack: Stack, page: Page, world: World, artifacts: Path) -> None:
    network = {"down": False}
    sockets: list[WebSocketRoute] = []

    def live_socket(ws: WebSocketRoute) -> None:
        sockets.append(ws)
        if network["down"]:
            ws.close(code=4000, reason="network down")  # the reconnect attempt fails
        else:
            ws.connect_to_server()

    page.route_web_socket(re.compile(r"/api/live"), live_socket)
    sign_in(page, stack, "alice")
    expect(page.get_by_test_id("live-status")).to_have_attribute("data-state", "up")
    expect(page.get_by_test_id("tab-reports")).to_be_hidden()  # operators have no reports
    first = raise_event(world)
    expect(row(page, first)).to_be_visible()

    network["down"] = True
    sockets[-1].close(code=4000, reason="network down")
    banner = page.get_by_test_id("reconnecting")
    expect(banner).to_be_visible()
    expect(page.get_by_test_id("live-status")).to_have_attribute("data-state", "down")
    fall = raise_event(world, EventType.FALL, device=PENDANT)  # both while the page is cut off
    stack.client("bob").post(f"/api/alerts/{first}/claim").raise_for_status()
    expect(row(page, fall)).to_have_count(0)
    page.screenshot(path=artifacts / "console-reconnecting.png")

    network["down"] = False
    expect(row(page, fall)).to_be_visible(timeout=15_000)
    expect(banner).to_be_hidden()
    expect(row(page, first).get_by_test_id("holder")).to_contain_text("Bob")
    expect(page.locator("body")).to_have_attribute("data-beeps", "2")  # the fall is a new P1
    assert "since=" not in sockets[0].url
    assert re.search(r"since=\d+", sockets[-1].url), "the reconnect resumes from its last seq"
