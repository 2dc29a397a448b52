"""The access log in the console: an operator opens an alert (its resident's medical notes
are on the card), claims it and reveals the key-safe code; an auditor then finds those reads
in the access log. (That nobody can alter them: tests/integration/test_privacy.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from server.privacy import consent
from server.privacy.consent import Scope
from tests.e2e.helpers import raise_event, row, sign_in
from tests.fixtures.stack import Stack
from tests.fixtures.staff import add_staff
from tests.fixtures.world import World

pytestmark = pytest.mark.e2e


def test_an_auditor_finds_the_operators_reads_in_the_access_log(
        stack: Stack, page: Page, world: World, artifacts: Path) -> None:
    add_staff(world)
    sign_in(page, stack, "alice")
    expect(page.get_by_test_id("tab-access")).to_be_hidden()  # not for operators
    alert = raise_event(world)
    row(page, alert).click()
    detail = page.get_by_test_id("alert-detail")
    expect(detail).to_have_attribute("data-alert-id", str(alert))
    expect(detail.get_by_test_id("resident-conditions")).to_have_text("高血压")
    page.keyboard.press("c")  # claim
    expect(detail.get_by_test_id("detail-holder")).to_have_text("Alice")
    detail.get_by_test_id("keysafe-show").click()
    expect(detail.get_by_test_id("keysafe-code")).to_have_text("4711")
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()

    sign_in(page, stack, "audrey")
    page.get_by_test_id("tab-access").click()
    page.get_by_test_id("access-resident_id").fill(str(world.resident))
    page.get_by_test_id("access-search").click()
    rows = page.get_by_test_id("access-row")
    key_safe = rows.filter(has_text="钥匙箱密码")
    expect(key_safe).to_have_count(1)
    expect(key_safe.get_by_test_id("access-who")).to_have_text("Alice (operator)")
    expect(key_safe.get_by_test_id("access-purpose")).to_have_text(f"处理告警 #{alert}")
    medical = rows.filter(has_text="用药").filter(has_text="Alice")
    expect(medical.first).to_contain_text(f"处理告警 #{alert}")
    # the field filter narrows to the key-safe reads
    page.get_by_test_id("access-field").select_option("key_safe_code")
    page.get_by_test_id("access-search").click()
    expect(rows).to_have_count(1)
    expect(rows.get_by_test_id("access-fields")).to_have_text("钥匙箱密码")
    page.screenshot(path=artifacts / "access-log.png")


def test_family_phones_without_consent_need_an_emergency_override(
        stack: Stack, page: Page, world: World, artifacts: Path) -> None:
    with world.connect() as conn:
        consent.withdraw(conn, world.supervisor.actor, world.resident, Scope.SHARE_FAMILY,
                         "王秀英")
    sign_in(page, stack, "alice")
    alert = raise_event(world)
    row(page, alert).click()
    detail = page.get_by_test_id("alert-detail")
    contact = detail.get_by_test_id("contact")
    expect(contact.get_by_test_id("contact-withheld")).to_have_text("号码已隐藏")
    expect(contact).not_to_contain_text("13800000001")
    detail.get_by_test_id("override-show").click()
    page.get_by_test_id("override-reason").fill("老人按键后无应答")
    page.get_by_test_id("dialog-submit").click()
    expect(contact).to_contain_text("13800000001")
    expect(detail.get_by_test_id("override")).to_have_count(0)
    with world.connect() as conn:
        logged = conn.execute("SELECT user_id, alert_id, reason FROM access_log WHERE purpose = "
                              "'emergency_override'").fetchall()
        tasks = conn.execute("SELECT resident_id, alert_id FROM inform_tasks").fetchall()
    assert logged == [(world.operator.id, alert, "老人按键后无应答")]
    assert tasks == [(world.resident, alert)]

    # the supervisor tells her son afterwards, and closes the task
    page.get_by_test_id("logout").click()
    sign_in(page, stack, "sam")
    page.get_by_test_id("tab-access").click()
    task = page.get_by_test_id("inform-task")
    expect(task).to_have_count(1)
    expect(task).to_contain_text(f"告警 #{alert}")
    expect(task).to_contain_text("老人按键后无应答")
    task.get_by_test_id("inform-close").click()
    page.get_by_test_id("inform-close-note").fill("已电话告知王秀英本人")
    page.get_by_test_id("dialog-submit").click()
    expect(page.get_by_test_id("inform-none")).to_be_visible()
    page.screenshot(path=artifacts / "inform-tasks-closed.png")
    with world.connect() as conn:
        closed = conn.execute("SELECT closed_by, close_note FROM inform_tasks").fetchall()
    assert closed == [("Sam", "已电话告知王秀英本人")]


def test_consent_is_withdrawn_and_recorded_and_an_admin_erases_a_resident_who_left(
        stack: Stack, page: Page, world: World, artifacts: Path) -> None:
    add_staff(world)
    sign_in(page, stack, "sam")
    page.goto(f"{stack.url}/console/#/residents/{world.resident}")
    health = page.locator('[data-testid="res-consent"][data-scope="health_monitoring"]')
    expect(health).to_contain_text("王秀英（本人）")
    health.get_by_test_id("consent-withdraw").click()
    page.get_by_test_id("consent-withdrawn-by").fill("王秀英")
    page.get_by_test_id("dialog-submit").click()
    expect(health).to_contain_text("未同意")
    health.get_by_test_id("consent-grant").click()
    page.get_by_test_id("consent-by").select_option("guardian")
    page.get_by_test_id("consent-name").fill("王强")
    page.get_by_test_id("consent-document").fill("监护人同意书 2026-17")
    page.get_by_test_id("dialog-submit").click()
    expect(health).to_contain_text("王强（监护人）")
    expect(health).to_contain_text("监护人同意书 2026-17")
    expect(page.get_by_test_id("res-export")).to_have_count(0)  # admins only
    page.screenshot(path=artifacts / "consents.png")
    page.get_by_test_id("logout").click()

    with world.connect() as conn:
        conn.execute("UPDATE residents SET status = 'moved' WHERE id = %s", (world.resident,))
    sign_in(page, stack, "ada")
    page.goto(f"{stack.url}/console/#/residents/{world.resident}")
    resident = page.get_by_test_id("res-page")
    expect(resident.get_by_test_id("res-name")).to_have_text("王秀英")
    with page.expect_download() as download:
        resident.get_by_test_id("res-export").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert "13800000001" in exported
    resident.get_by_test_id("res-erase").click()
    page.get_by_test_id("erase-confirm").fill("王秀英")
    page.get_by_test_id("dialog-submit").click()
    expect(resident.get_by_test_id("res-name")).to_have_text("已删除")
    expect(resident.get_by_test_id("res-erase")).to_have_count(0)
    with world.connect() as conn:
        (name,) = conn.execute("SELECT name FROM residents WHERE id = %s",
                               (world.resident,)).fetchone() or ("",)
        purposes = [p for (p,) in conn.execute(
            "SELECT purpose FROM access_log WHERE user_id = (SELECT id FROM users WHERE "
            "username = 'ada') AND purpose IN ('export', 'erasure') ORDER BY id").fetchall()]
    assert name == "已删除"
    assert purposes == ["export", "erasure"]
