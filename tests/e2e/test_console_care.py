"""Care tags at work in the console: the resident list narrowed and counted by tag, an admin
changing a care rule, and the resident's care plan (and her next alarm's priority) following
it; an operator reads the rules and cannot change them."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from server.directory import CareTag, HomeIn, ResidentIn, add_home, add_resident
from tests.e2e.helpers import sign_in
from tests.fixtures.stack import Stack
from tests.fixtures.staff import add_staff
from tests.fixtures.world import World

pytestmark = pytest.mark.e2e

ALONE = CareTag.ALONE.value


def test_an_admin_changes_a_care_rule_and_the_plan_follows(
        stack: Stack, page: Page, world: World, artifacts: Path) -> None:
    add_staff(world)
    with world.connect() as conn:
        home = add_home(conn, HomeIn(region_id=world.community, address="幸福路 12 号"))
        zhang = add_resident(conn, ResidentIn(home_id=home, name="张桂兰",
                                              care_tags=[CareTag.ALONE]))
        add_resident(conn, ResidentIn(home_id=home, name="张国强",
                                      care_tags=[CareTag.EMPTY_NEST]))
    sign_in(page, stack, "ada")
    page.get_by_test_id("tab-residents").click()
    rows = page.get_by_test_id("res-row")
    expect(rows).to_have_count(3)
    chip = page.get_by_test_id(f"res-chip-{ALONE}")
    expect(chip.locator(".count")).to_have_text("2")  # 王秀英 (高龄, 独居) and 张桂兰
    chip.click()
    expect(rows).to_have_count(2)
    page.get_by_test_id("res-chip-高龄").click()  # both tags: only 王秀英
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("王秀英")
    page.get_by_test_id("res-chip-高龄").click()

    # 张桂兰 lives alone: called weekly, her alarms as they come
    rows.filter(has_text="张桂兰").click()
    plan = page.get_by_test_id("res-care-plan")
    expect(plan.get_by_test_id("plan-calls")).to_have_text("每 7 天一次")
    expect(plan.get_by_test_id("plan-priority")).to_have_text("按报警类型")

    # a cold spell: those living alone are called every 3 days and their alarms raised
    page.get_by_test_id("res-care-rules").click()
    rule = page.get_by_test_id("care-rule").filter(has_text="独居").filter(has_not_text="高龄")
    rule.get_by_test_id("care-rule-edit").click()
    page.get_by_test_id("f-call_every_days").fill("3")
    page.get_by_test_id("f-raise_priority").check()
    page.get_by_test_id("f-note").fill("寒潮期间")
    page.get_by_test_id("dialog-submit").click()
    rule = page.get_by_test_id("care-rule").filter(has_text="寒潮期间")
    expect(rule).to_contain_text("每 3 天一次")
    expect(page.get_by_test_id("care-history")).to_contain_text("Ada")
    page.screenshot(path=artifacts / "care-rules.png")
    page.get_by_test_id("dialog-submit").click()  # close

    rows.filter(has_text="张桂兰").click()
    page.get_by_test_id("res-page").get_by_test_id("res-name").wait_for()
    page.reload()  # the plan as the server computes it now
    plan = page.get_by_test_id("res-care-plan")
    expect(plan.get_by_test_id("plan-calls")).to_have_text("每 3 天一次")
    expect(plan.get_by_test_id("plan-priority")).to_have_text("普通报警升为紧急（P2→P1）")
    page.screenshot(path=artifacts / "care-plan.png")
    assert page.url.endswith(f"#/residents/{zhang}")


def test_an_operator_reads_the_rules_and_cannot_change_them(
        stack: Stack, page: Page, world: World) -> None:
    sign_in(page, stack, "alice")
    page.get_by_test_id("tab-residents").click()
    page.get_by_test_id("res-care-rules").click()
    expect(page.get_by_test_id("care-rule").first).to_be_visible()
    expect(page.get_by_test_id("care-rule-edit")).to_have_count(0)
    expect(page.get_by_test_id("care-rule-add")).to_have_count(0)
    expect(page.get_by_test_id("care-history")).to_have_count(0)
