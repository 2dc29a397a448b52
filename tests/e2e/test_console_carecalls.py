"""主动关爱 care calls in the console: an operator works the day's list — one answered and well,
one with a concern (which makes a visit task), one unanswered twice (which makes the urgent
visit task); a supervisor starts a campaign for a care tag."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from server.care_calls import make_schedule
from server.directory import CareTag, HomeIn, ResidentIn, add_home, add_resident
from tests.e2e.helpers import sign_in
from tests.fixtures.stack import Stack
from tests.fixtures.world import World

pytestmark = pytest.mark.e2e


def _resident(world: World, name: str, tags: list[CareTag]) -> int:
    with world.connect() as conn:
        home = add_home(conn, HomeIn(region_id=world.community, address=f"幸福路 {name}"))
        return add_resident(conn, ResidentIn(home_id=home, name=name, care_tags=tags,
                                             phone="13700000000"))


def _follow_ups(world: World, resident: int) -> list[str]:
    with world.connect() as conn:
        return [r[0] for r in conn.execute(
            "SELECT reason FROM visit_tasks WHERE resident_id = %s AND kind = 'follow_up' "
            "ORDER BY id", (resident,))]


def test_an_operator_works_the_care_call_list(stack: Stack, page: Page, world: World,
                                              artifacts: Path) -> None:
    worried = _resident(world, "钱桂兰", [CareTag.ALONE])
    silent = _resident(world, "孙建国", [CareTag.ALONE])
    with world.connect() as conn:
        make_schedule(conn, date.today())
    sign_in(page, stack, "alice")
    page.get_by_test_id("tab-carecalls").click()
    rows = page.get_by_test_id("cc-row")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("王秀英")  # her rules raise her alarms: called first
    page.get_by_test_id("cc-chip-高龄").click()  # only the aged
    expect(rows).to_have_count(1)
    page.get_by_test_id("cc-chip-高龄").click()
    expect(rows).to_have_count(3)
    page.screenshot(path=artifacts / "carecalls.png")

    rows.filter(has_text="王秀英").get_by_test_id("cc-well").click()
    page.get_by_test_id("cc-f-notes").fill("身体不错，女儿周末来")
    page.get_by_test_id("dialog-submit").click()
    expect(rows).to_have_count(2)

    rows.filter(has_text="钱桂兰").get_by_test_id("cc-concern").click()
    page.get_by_test_id("cc-f-concern").fill("说最近头晕，不敢出门买菜")
    page.get_by_test_id("dialog-submit").click()
    expect(page.get_by_test_id("toast").filter(has_text="已生成上门探访任务")).to_be_visible()
    expect(rows).to_have_count(1)
    assert _follow_ups(world, worried) == ["call_concern"]

    rows.filter(has_text="孙建国").get_by_test_id("cc-no_answer").click()
    page.get_by_test_id("dialog-submit").click()
    retry = rows.filter(has_text="孙建国").filter(has_text="重拨")
    expect(retry).to_contain_text("上次：无人接听")
    assert _follow_ups(world, silent) == []
    retry.get_by_test_id("cc-no_answer").click()
    page.get_by_test_id("dialog-submit").click()
    expect(page.get_by_test_id("cc-none")).to_be_visible()
    assert _follow_ups(world, silent) == ["calls_missed"]

    # the calls are on her page, beside her alerts and visits
    page.goto(f"{stack.url}/#/residents/{worried}")
    expect(page.get_by_test_id("res-carecall")).to_contain_text("接通，有情况")
    expect(page.get_by_test_id("res-carecall")).to_contain_text("说最近头晕")


def test_a_supervisor_starts_a_campaign(stack: Stack, page: Page, world: World) -> None:
    _resident(world, "冯空巢", [CareTag.EMPTY_NEST])
    sign_in(page, stack, "sam")
    page.get_by_test_id("tab-carecalls").click()
    page.get_by_test_id("cc-campaign").click()
    page.get_by_test_id("cc-f-name").fill("寒潮关爱")
    page.get_by_test_id("cc-f-reason").select_option("cold")
    page.get_by_test_id(f"cc-f-tag-{CareTag.EMPTY_NEST.value}").check()
    page.get_by_test_id("dialog-submit").click()
    started = page.get_by_test_id("toast").filter(has_text="已为 1 位老人安排专项关爱电话")
    expect(started).to_be_visible()
    expect(page.get_by_test_id("cc-row").filter(has_text="冯空巢")).to_contain_text("寒潮关爱")
