"""一屏 Overview in the console: a supervisor opens it over the demo's world (with its month of
history) and sees the API's counts; a new alert appears within the 10 s refresh; it fits a wall
screen (1920×1080) and a 1366×768 one (``test-artifacts/dashboard.png``, ``dashboard-1366.png``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from firmware_sim.scenarios import find_scenario
from pinganling.demo_world import ALL_HOMES, DISTRICT, seed
from server.alerts import service
from server.alerts.context import gateway_context, resident_context
from server.alerts.model import AlertType, Priority
from tests.e2e.helpers import sign_in
from tests.fixtures.stack import Stack
from tests.fixtures.world import GATEWAY, World

pytestmark = pytest.mark.e2e


def _demo(world: World, tmp_path: Path) -> None:
    """The demo's world beside the test world (renamed, under the demo's district; its
    devices give way to the demo's, which have the same ids), two demo gateways online with
    their devices heard but one, a P1 and a P3 open."""
    scenarios = {h.scenario: find_scenario(h.scenario) for h in ALL_HOMES}
    with world.connect() as conn:
        conn.execute("DELETE FROM devices")
        seed(conn, scenarios, tmp_path / "credentials.json")
        district = conn.execute("SELECT id FROM regions WHERE name = %s", (DISTRICT,)).fetchone()
        assert district is not None
        conn.execute("UPDATE regions SET name = '东风街道', parent_id = %s WHERE id = %s",
                     (district[0], world.street))
        conn.execute("UPDATE regions SET name = '春晖社区' WHERE id = %s", (world.community,))
        conn.execute("UPDATE regions SET name = '秋实社区' WHERE id = %s", (world.other_community,))
        conn.execute("UPDATE gateways SET state = 'online', state_since = now() WHERE id IN "
                     "('gw-demo-0001', 'gw-demo-0002')")
        conn.execute("UPDATE devices SET last_seen = now() WHERE gateway_id IN "
                     "('gw-demo-0001', 'gw-demo-0002') AND uid <> (SELECT max(uid) FROM devices)")
        service.raise_alert(conn, AlertType.PANIC, Priority.P1,
                            resident_context(conn, world.resident))
        service.raise_alert(conn, AlertType.LOW_BATTERY, Priority.P3,
                            gateway_context(conn, GATEWAY))


def test_the_overview_shows_the_apis_counts_and_refreshes(stack: Stack, page: Page, world: World,
                                                          artifacts: Path, tmp_path: Path) -> None:
    _demo(world, tmp_path)
    board = stack.client("sam").get("/api/dashboard").json()
    total = board["total"]
    sign_in(page, stack, "sam")
    page.get_by_test_id("tab-dashboard").click()
    view = page.get_by_test_id("dashboard")
    expect(view.get_by_test_id("db-alerts-value")).to_have_text(
        str(sum(total["alerts"].values()) + board["unassigned_alerts"]))
    expect(view.get_by_test_id("db-alerts-P1")).to_have_text(f"P1 {total['alerts']['P1']}")
    expect(view.get_by_test_id("db-elders-value")).to_have_text(str(total["elders"]))
    expect(view.get_by_test_id("db-devices-value")).to_have_text(
        f"{total['devices_online']} / {total['devices']}")
    expect(view.get_by_test_id("db-visits-value")).to_have_text(
        f"{total['visits_done']} / {total['visits_due']}")
    expect(view.get_by_test_id("db-calls-value")).to_have_text(
        f"{total['calls_made']} / {total['calls_due']}")
    rows = view.get_by_test_id("db-row")
    expect(rows).to_have_count(len(board["communities"]))
    assert len(board["communities"]) == 5
    assert total["elders"] >= 20
    for c in board["communities"]:
        expect(rows.filter(has_text=c["name"])).to_contain_text(
            f"{c['figures']['visits_done']} / {c['figures']['visits_due']}")
    expect(view.get_by_test_id("db-tags")).to_contain_text("独居")
    page.screenshot(path=artifacts / "dashboard-1366.png")

    # a wall screen; a new alert shows within the refresh
    page.set_viewport_size({"width": 1920, "height": 1080})
    with world.connect() as conn:
        service.raise_alert(conn, AlertType.FALL, Priority.P1,
                            resident_context(conn, world.resident))
    expect(view.get_by_test_id("db-alerts-P1")).to_have_text(
        f"P1 {total['alerts']['P1'] + 1}", timeout=15_000)
    page.screenshot(path=artifacts / "dashboard.png")

    page.get_by_test_id("lang").click()  # English
    expect(view.get_by_test_id("db-alerts")).to_contain_text("Open alerts")
    expect(view.get_by_test_id("db-table")).to_contain_text("Community")
