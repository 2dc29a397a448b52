"""The directory in the console: a supervisor edits a resident (phone, contacts' numbers and
call order, away mode) and the operator sees it on the next alert; an operator opens an alert
for a phone-in, resolves it, and it counts in the answer-time report."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from server.directory import ContactIn, add_contact
from tests.e2e.helpers import raise_event, row, sign_in
from tests.fixtures.stack import Stack
from tests.fixtures.world import World

pytestmark = pytest.mark.e2e


def sign_out(page: Page) -> None:
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()


def test_a_supervisors_edits_reach_the_operators_next_alert(
        stack: Stack, page: Page, world: World, artifacts: Path) -> None:
    with world.connect() as conn:
        add_contact(conn, ContactIn(resident_id=world.resident, name="李阿姨", relation="邻居",
                                    phones=["13800000003"], has_key=True))
    sign_in(page, stack, "sam")
    page.get_by_test_id("tab-residents").click()
    page.get_by_test_id("res-q").fill("wxy")  # pinyin initials of 王秀英
    page.get_by_test_id("res-row").filter(has_text="王秀英").click()
    resident = page.get_by_test_id("res-page")
    expect(resident.get_by_test_id("res-name")).to_have_text("王秀英")
    assert page.url.endswith(f"#/residents/{world.resident}")

    # her son has a new mobile, and the landline as a second number
    contacts = resident.get_by_test_id("res-contact")
    contacts.filter(has_text="王强").get_by_test_id("res-contact-edit").click()
    page.get_by_test_id("f-phones").fill("13900000009\n021-6666 0000")
    page.get_by_test_id("dialog-submit").click()
    expect(contacts.filter(has_text="王强").get_by_test_id("res-contact-phones")).to_have_text(
        "13900000009021-6666 0000")
    # the neighbour, who has a key, is called first now
    contacts.filter(has_text="王强").get_by_test_id("res-contact-down").click()
    expect(contacts.first).to_contain_text("李阿姨")
    # her own phone
    resident.get_by_test_id("res-edit").click()
    page.get_by_test_id("f-phone").fill("021-5555 0101")
    page.get_by_test_id("dialog-submit").click()
    expect(resident.get_by_test_id("res-phone")).to_have_text("021-5555 0101")
    # away for three days
    until = time.strftime("%Y-%m-%dT18:00", time.localtime(time.time() + 3 * 86400))
    resident.get_by_test_id("res-set-status").click()
    page.get_by_test_id("f-status-away").check()
    page.get_by_test_id("f-until").fill(until)
    page.get_by_test_id("f-note").fill("去女儿家")
    page.get_by_test_id("dialog-submit").click()
    away = f"外出至 {until.replace('T', ' ')}"
    expect(resident.get_by_test_id("res-status")).to_have_text(away)

    history = resident.get_by_test_id("res-history")
    phone = history.locator('[data-testid="res-change"][data-field="phone"]')
    expect(phone.locator(".before")).to_have_text("（空）")
    expect(phone.locator(".after")).to_have_text("021-5555 0101")
    phones = history.locator('[data-testid="res-change"][data-field="phones"]')
    expect(phones.locator(".before")).to_have_text("13800000001")
    expect(phones.locator(".after")).to_have_text("13900000009、021-6666 0000")
    order = history.locator('[data-testid="res-change"][data-field="contacts"]')
    expect(order.locator(".before")).to_have_text("王强、李阿姨")
    expect(order.locator(".after")).to_have_text("李阿姨、王强")
    status = history.locator('[data-testid="res-change"][data-field="status"]')
    expect(status.locator(".before")).to_have_text("在家")
    expect(status.locator(".after")).to_have_text("外出")
    expect(history.get_by_test_id("res-history-item").first).to_contain_text("Sam")
    page.screenshot(path=artifacts / "residents-edited.png")

    sign_out(page)
    sign_in(page, stack, "alice")
    alert = raise_event(world)  # she pressed her button: someone is home after all
    expect(row(page, alert).get_by_test_id("row-away")).to_have_text(away)
    detail = page.get_by_test_id("alert-detail")
    expect(detail).to_have_attribute("data-alert-id", str(alert))
    card = detail.get_by_test_id("resident-card")
    expect(card.get_by_test_id("resident-away")).to_have_text(away)
    expect(card.get_by_test_id("contact").first).to_contain_text("李阿姨")
    expect(card.get_by_test_id("contact").nth(1)).to_contain_text("13900000009")
    expect(card).to_contain_text("021-5555 0101")
    page.screenshot(path=artifacts / "residents-next-alert.png")
    # the card's name leads to her page
    card.get_by_test_id("resident-name").click()
    expect(page.get_by_test_id("res-page").get_by_test_id("res-name")).to_have_text("王秀英")
    expect(page.get_by_test_id("res-edit")).to_have_count(0)  # operators read, do not edit


def test_an_operator_opens_a_phone_in_resolves_it_and_it_is_reported(
        stack: Stack, page: Page, world: World, artifacts: Path) -> None:
    sign_in(page, stack, "alice")
    page.keyboard.press("i")  # the shortcut; the header button does the same
    form = page.get_by_test_id("phonein-form")
    expect(form).to_be_visible()
    page.get_by_test_id("phonein-find").fill("0001")  # the last digits of her son's number
    expect(page.get_by_test_id("phonein-option")).to_have_text(["王秀英 · 幸福路 8 号 3 单元 201"])
    page.get_by_test_id("phonein-caller").fill("王强")
    page.get_by_test_id("phonein-relation").fill("儿子")
    page.get_by_test_id("phonein-channel").select_option("hotline_12349")
    page.get_by_test_id("phonein-reason").fill("母亲电话一直没人接，请上门看看")
    page.get_by_test_id("phonein-priority-P1").check()
    page.screenshot(path=artifacts / "phone-in-dialog.png")
    page.keyboard.press("Control+Enter")
    expect(form).to_be_hidden()

    detail = page.get_by_test_id("alert-detail")
    expect(detail.get_by_test_id("detail-type")).to_have_text("来电求助")
    expect(detail.get_by_test_id("detail-holder")).to_have_text("Alice")  # claimed at once
    expect(detail.get_by_test_id("detail-phone-in-reason")).to_have_text(
        "母亲电话一直没人接，请上门看看")
    expect(detail.locator('[data-testid="timeline-item"][data-action="phone_in"]')).to_contain_text(
        "Alice")
    page.screenshot(path=artifacts / "phone-in-alert.png")
    page.keyboard.press("r")
    page.keyboard.press("6")  # resolved by phone
    page.keyboard.press("Enter")
    expect(detail.get_by_test_id("detail-outcome")).to_have_text("电话处置完毕")
    expect(page.get_by_test_id("queue-row")).to_have_count(0)

    sign_out(page)
    sign_in(page, stack, "sam")
    page.get_by_test_id("tab-reports").click()
    expect(page.get_by_test_id("report-alarms")).to_contain_text("1")
    expect(page.get_by_test_id("report-answered")).to_contain_text("1")
    expect(page.get_by_test_id("report-within60")).to_contain_text("100.0%")
    page.screenshot(path=artifacts / "phone-in-report.png")
