"""探访 visits in the console at a phone's size, as a grid worker uses it at the door: a visit
with a follow-up flag makes the follow-up task appear; "not at home" schedules the second
attempt. A supervisor then reads the month's visit rate."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from server.alerts.model import Role
from server.auth.users import create_user
from server.directory import CareTag, HomeIn, ResidentIn, add_home, add_resident
from server.scope import ALL
from server.visits import VisitIn, VisitorKind, make_plan, record_visit
from tests.e2e.helpers import sign_in
from tests.fixtures.stack import Stack
from tests.fixtures.world import PASSWORD, World

pytestmark = pytest.mark.e2e

PHONE: ViewportSize = {"width": 390, "height": 844}


def test_a_grid_worker_records_visits_at_the_door(stack: Stack, page: Page, world: World,
                                                  artifacts: Path) -> None:
    with world.connect() as conn:
        create_user(conn, "lina", "李网格员", Role.VISITOR, PASSWORD, regions=(world.community,))
        home = add_home(conn, HomeIn(region_id=world.community, address="幸福路 10 号 102",
                                     grid="第二网格"))
        add_resident(conn, ResidentIn(home_id=home, name="周桂芳",
                                      care_tags=[CareTag.EMPTY_NEST]))
        make_plan(conn, date.today())
    page.set_viewport_size(PHONE)
    sign_in(page, stack, "lina")
    expect(page.get_by_test_id("tab-queue")).to_be_hidden()
    tasks = page.get_by_test_id("visit-task")
    expect(tasks).to_have_count(2)
    page.screenshot(path=artifacts / "visits-phone-tasks.png")

    # 王秀英 is at home; her fridge is empty
    tasks.filter(has_text="王秀英").click()
    form = page.get_by_test_id("visit-form")
    form.get_by_test_id("visit-at_home").check()
    form.get_by_test_id("visit-met").fill("本人")
    form.get_by_test_id("visit-health").fill("血压 150/95，按时服药")
    form.get_by_test_id("visit-living").fill("冰箱是空的")
    form.get_by_test_id("visit-follow-up").select_option("no_food")
    form.get_by_test_id("visit-follow-up-note").fill("请社区助餐点今天送餐")
    page.screenshot(path=artifacts / "visits-phone-form.png")
    form.get_by_test_id("visit-submit").click()
    expect(page.get_by_test_id("visit-result")).to_contain_text("已生成跟进任务")
    follow = tasks.filter(has_text="缺少食物")
    expect(follow).to_have_count(1)
    expect(follow).to_contain_text("紧急")
    expect(follow).to_contain_text("请社区助餐点今天送餐")
    expect(tasks.filter(has_text="例行探访").filter(has_text="王秀英")).to_have_count(0)

    # nobody opens at 周桂芳's: a second attempt in two days
    tasks.filter(has_text="周桂芳").click()
    page.get_by_test_id("visit-not_home").check()
    page.get_by_test_id("visit-submit").click()
    again = (date.today() + timedelta(days=2)).isoformat()
    expect(page.get_by_test_id("visit-result")).to_contain_text(f"已安排再次上门：{again}")
    second = tasks.filter(has_text="周桂芳")
    expect(second).to_contain_text("再次上门")
    expect(second).to_contain_text("上次不在家")
    page.screenshot(path=artifacts / "visits-phone-after.png")


def test_a_supervisor_reads_the_visit_rate(stack: Stack, page: Page, world: World,
                                           artifacts: Path) -> None:
    with world.connect() as conn:
        create_user(conn, "lina", "李网格员", Role.VISITOR, PASSWORD, regions=(world.community,))
        home = add_home(conn, HomeIn(region_id=world.community, address="幸福路 10 号 102"))
        add_resident(conn, ResidentIn(home_id=home, name="周桂芳",
                                      care_tags=[CareTag.EMPTY_NEST]))
    sign_in(page, stack, "sam")
    page.get_by_test_id("tab-visits").click()
    page.get_by_test_id("visit-plan").click()  # the server's own job may have made it first
    expect(page.get_by_test_id("toast").filter(has_text="项探访任务")).to_be_visible()
    total = page.get_by_test_id("visit-rate-total")
    expect(total).to_contain_text("2")
    expect(total).to_contain_text("0%")
    expect(page.get_by_test_id("visit-rate-tag").filter(has_text="空巢")).to_be_visible()
    page.screenshot(path=artifacts / "visits-compliance.png")

    # the task goes to the grid worker of the community
    task = page.get_by_test_id("visit-tasks").get_by_test_id("visit-task").filter(has_text="周桂芳")
    task.get_by_test_id("visit-assign").select_option(label="李网格员（探访员）")
    expect(page.get_by_test_id("toast").filter(has_text="已分配")).to_be_visible()
    with world.connect() as conn:
        assert conn.execute("SELECT u.username FROM visit_tasks t JOIN users u ON "
                            "u.id = t.assignee_id").fetchall() == [("lina",)]
    page.get_by_test_id("visit-chip-空巢").click()
    expect(page.get_by_test_id("visit-tasks").get_by_test_id("visit-task")).to_have_count(1)

    # a visit is on the resident's page, beside her alerts and calls
    with world.connect() as conn:
        record_visit(conn, ALL, world.supervisor.actor, VisitIn(
            resident_id=world.resident, at_home=True, visitor_kind=VisitorKind.STAFF,
            mood="很好，女儿刚来过"))
    page.goto(f"{stack.url}/#/residents/{world.resident}")
    visit = page.get_by_test_id("res-visits").get_by_test_id("res-visit")
    expect(visit).to_contain_text("老人在家")
    expect(visit).to_contain_text("精神状态：很好，女儿刚来过")
