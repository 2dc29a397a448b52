"""探访 visits on real PostgreSQL, over the API: the month's plan from the care rules (made once
however often it runs), a visitor recording at the door (a follow-up task with the flag's
priority; "not at home" scheduling a second attempt, and a second miss asking for the
contacts), compliance per community, street and tag, the overdue list, and visitors kept to
the visits pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Route

from kernel.contract import Topics
from kernel.services.broker import BrokerAddress
from server.alerts.model import Role
from server.auth.users import User, create_user, get_user
from server.directory import CareTag, HomeIn, ResidentIn, add_home, add_resident
from server.visits import make_plan
from server.visits.tasks import due_days
from tests.fixtures.api import api_client
from tests.fixtures.staff import bearer
from tests.fixtures.world import PASSWORD, World

TODAY = date.today()
MONTH = TODAY.replace(day=1)


@pytest.fixture
def client(world: World, mqtt_broker: BrokerAddress, topics: Topics) -> Iterator[TestClient]:
    with api_client(world, mqtt_broker, topics) as c:
        yield c


def _visitor(world: World, name: str = "lina", region: int | None = None) -> User:
    with world.connect() as conn:
        user = get_user(conn, create_user(conn, name, "李网格员", Role.VISITOR, PASSWORD,
                                          regions=(region or world.community,)))
    assert user is not None
    return user


def _resident(world: World, name: str, tags: list[CareTag], region: int | None = None) -> int:
    with world.connect() as conn:
        home = add_home(conn, HomeIn(region_id=region or world.community,
                                     address=f"{name}家", grid="第二网格"))
        return add_resident(conn, ResidentIn(home_id=home, name=name, care_tags=tags))


def _tasks(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    r = client.get("/api/visits/tasks", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return list(r.json())


def test_due_days_spread_over_the_month() -> None:
    feb = date(2026, 2, 1)
    assert due_days(feb, 30, None, feb) == [date(2026, 2, 28)]
    assert due_days(feb, 14, None, feb) == [date(2026, 2, 14), date(2026, 2, 28)]
    assert len(due_days(feb, 7, None, feb)) == 4
    # quarterly: due in the month the interval ends, not before
    assert due_days(feb, 90, date(2025, 11, 20), feb) == [date(2026, 2, 18)]
    assert due_days(feb, 90, date(2025, 12, 20), feb) == []


def test_the_plan_follows_the_care_rules_and_is_made_once(world: World) -> None:
    nest = _resident(world, "空巢周", [CareTag.EMPTY_NEST])  # monthly
    dementia = _resident(world, "失智吴", [CareTag.DEMENTIA])  # every 14 days
    untagged = _resident(world, "无标签", [])
    with world.connect() as conn:
        added = make_plan(conn, MONTH)
        assert make_plan(conn, MONTH) == 0, "a second run adds nothing"
        per = dict(conn.execute("SELECT resident_id, count(*) FROM visit_tasks WHERE kind = "
                                "'plan' AND month = %s GROUP BY resident_id", (MONTH,)))
    # 王秀英 (高龄 + 独居: monthly), 空巢周 once, 失智吴 twice, nobody else
    assert per == {world.resident: 1, nest: 1, dementia: 2}
    assert added == 4
    assert untagged not in per


def test_a_visit_with_a_follow_up_makes_a_task_the_supervisor_sees(
        world: World, client: TestClient) -> None:
    visitor = _visitor(world)
    lina, sam = bearer(world, visitor), bearer(world, world.supervisor)
    assert client.post("/api/visits/plan", headers=sam).status_code == 201
    (task,) = _tasks(client, lina)
    assert task["resident"] == "王秀英"
    assert task["kind"] == "plan"
    assert [t["id"] for t in _tasks(client, sam, tag=["高龄", "独居"])] == [task["id"]]
    assert _tasks(client, sam, tag="空巢") == []
    people = client.get("/api/visits/visitors", headers=sam).json()
    assert people[0] == {"id": visitor.id, "name": "李网格员", "role": "visitor",
                         "regions": [world.community]}, "visitors first"
    assert client.get("/api/visits/visitors", headers=lina).status_code == 403
    r = client.put(f"/api/visits/tasks/{task['id']}/assignee", headers=sam,
                   json={"user_id": visitor.id})
    assert r.status_code == 204
    assert _tasks(client, sam)[0]["assignee"] == "李网格员"
    elsewhere = _visitor(world, "ola", world.other_community)
    r = client.put(f"/api/visits/tasks/{task['id']}/assignee", headers=sam,
                   json={"user_id": elsewhere.id})
    assert r.status_code == 422, "she does not work in this task's region"

    r = client.post("/api/visits", headers=lina, json={
        "resident_id": world.resident, "task_id": task["id"], "at_home": True,
        "met": "本人", "health": "血压偏高", "living": "冰箱是空的", "mood": "尚可",
        "follow_up": "no_food", "follow_up_note": "冰箱空了，请社区送餐"})
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["second_attempt_task"] is None

    open_tasks = {t["id"]: t for t in _tasks(client, sam)}
    follow = open_tasks[made["follow_up_task"]]
    assert (follow["kind"], follow["reason"], follow["priority"]) == ("follow_up", "no_food", 1)
    assert follow["due_on"] == (TODAY + timedelta(days=1)).isoformat()
    assert follow["note"] == "冰箱空了，请社区送餐"
    assert task["id"] not in open_tasks, "the visited task is closed"

    page = client.get(f"/api/residents/{world.resident}/visits", headers=sam).json()
    (visit,) = page["visits"]
    assert visit["visitor"] == "李网格员"
    assert visit["living"] == "冰箱是空的"
    assert {t["status"] for t in page["tasks"]} == {"done", "open"}
    # the same task cannot be recorded twice
    again = client.post("/api/visits", headers=lina, json={
        "resident_id": world.resident, "task_id": task["id"], "at_home": True})
    assert again.status_code == 422
    assert "task_id" in again.text


def test_not_at_home_twice_schedules_a_second_attempt_then_asks_for_the_contacts(
        world: World, client: TestClient) -> None:
    visitor = _visitor(world)
    lina = bearer(world, visitor)
    with world.connect() as conn:
        make_plan(conn, MONTH)
    (task,) = _tasks(client, lina)
    first = client.post("/api/visits", headers=lina, json={
        "resident_id": world.resident, "task_id": task["id"], "at_home": False}).json()
    (second,) = [t for t in _tasks(client, lina) if t["id"] == first["second_attempt_task"]]
    assert second["kind"] == "second_attempt"
    assert second["due_on"] == (TODAY + timedelta(days=2)).isoformat()
    assert second["month"] == MONTH.isoformat(), "counts for the same month"
    assert second["parent_id"] == task["id"]

    miss = client.post("/api/visits", headers=lina, json={
        "resident_id": world.resident, "task_id": second["id"], "at_home": False}).json()
    assert miss["second_attempt_task"] is None
    (follow,) = [t for t in _tasks(client, lina) if t["id"] == miss["follow_up_task"]]
    assert (follow["reason"], follow["priority"]) == ("not_reached", 1)


def test_compliance_per_community_street_and_tag(world: World, client: TestClient) -> None:
    visitor = _visitor(world)
    _resident(world, "空巢周", [CareTag.EMPTY_NEST])
    _resident(world, "外区空巢", [CareTag.EMPTY_NEST], region=world.other_community)
    with world.connect() as conn:
        make_plan(conn, MONTH)
    lina = bearer(world, visitor)
    (mine,) = [t for t in _tasks(client, lina) if t["resident"] == "王秀英"]
    client.post("/api/visits", headers=lina, json={
        "resident_id": world.resident, "task_id": mine["id"], "at_home": True})
    other = next(t for t in _tasks(client, lina) if t["resident"] == "空巢周")
    client.post("/api/visits", headers=lina, json={
        "resident_id": other["resident_id"], "task_id": other["id"], "at_home": False})

    report = client.get("/api/visits/compliance", headers=bearer(world, world.supervisor),
                        params={"month": MONTH.isoformat()[:7]}).json()
    assert report["total"] == {"due": 3, "done": 1, "rate": round(1 / 3, 4)}
    regions = {r["name"]: r for r in report["regions"]}
    assert (regions["幸福社区"]["due"], regions["幸福社区"]["done"]) == (2, 1)
    assert (regions["和平社区"]["due"], regions["和平社区"]["done"]) == (1, 0)
    assert (regions["朝阳街道"]["due"], regions["朝阳街道"]["done"]) == (3, 1)
    assert report["tags"]["空巢"] == {"due": 2, "done": 0, "rate": 0.0}
    assert report["tags"]["独居"] == {"due": 1, "done": 1, "rate": 1.0}
    assert report["not_home"] == 1
    # the overdue list: nothing is past its day yet; backdate one
    with world.connect() as conn:
        conn.execute("UPDATE visit_tasks SET due_on = %s WHERE status = 'open' AND kind = "
                     "'plan' AND resident_id IN (SELECT id FROM residents WHERE name = %s)",
                     (TODAY - timedelta(days=1), "外区空巢"))
    overdue = _tasks(client, bearer(world, world.supervisor), overdue=True)
    assert [t["resident"] for t in overdue] == ["外区空巢"]
    assert _tasks(client, bearer(world, world.operator), overdue=True) == [], "not her region"


def test_visitors_reach_their_account_and_the_visits_pages_only(
        world: World, client: TestClient) -> None:
    lina = bearer(world, _visitor(world))
    olga_visitor = bearer(world, _visitor(world, "ola", world.other_community))
    allowed = {("GET", "/api/auth/me"), ("GET", "/api/auth/sessions"),
               ("POST", "/api/auth/password"), ("DELETE", "/api/auth/sessions/{session_id}"),
               ("POST", "/api/auth/logout"), ("POST", "/api/auth/login"),
               ("POST", "/api/auth/reset"), ("GET", "/api/visits/tasks"),
               ("POST", "/api/visits"), ("GET", "/api/residents/{resident_id}/visits")}
    let_in = []
    for route in client.app.routes:  # type: ignore[attr-defined]
        if not isinstance(route, Route) or not route.path.startswith("/api/"):
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            path = route.path
            for name in route.param_convertors:
                path = path.replace(f"{{{name}}}", "1")
            status = client.request(method, path, headers=lina, json={}).status_code
            if (method, route.path) not in allowed and status != 403:
                let_in.append((method, route.path, status))
    assert let_in == []
    with client.websocket_connect(f"/api/live?token={lina['authorization'][7:]}") as ws:
        message = ws.receive()
    assert message["code"] == 4403
    # her region's residents only
    assert client.get(f"/api/residents/{world.resident}/visits",
                      headers=olga_visitor).status_code == 404
    r = client.post("/api/visits", headers=olga_visitor,
                    json={"resident_id": world.resident, "at_home": True})
    assert r.status_code == 404
