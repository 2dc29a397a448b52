"""The care rules on real PostgreSQL, over the API: the seeded defaults and the plans they give,
an admin's edit changing the next alarm's priority (audited before → after), who may edit,
what is refused, and residents listed and counted by care tag within the caller's regions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kernel.contract import Topics
from kernel.services.broker import BrokerAddress
from server.alerts.context import resident_context
from server.alerts.model import AlertType, Priority
from server.alerts.service import raise_alert
from server.directory import CareTag, ResidentIn, add_home, add_resident, list_rules
from server.directory.care_rules import plan_for
from server.directory.homes import HomeIn
from tests.fixtures.api import api_client
from tests.fixtures.staff import Staff, bearer
from tests.fixtures.world import World

ALONE, AGED, EMPTY_NEST = CareTag.ALONE.value, CareTag.AGED.value, CareTag.EMPTY_NEST.value


@pytest.fixture
def client(world: World, mqtt_broker: BrokerAddress, topics: Topics) -> Iterator[TestClient]:
    with api_client(world, mqtt_broker, topics) as c:
        yield c


def _resident(world: World, name: str, tags: list[CareTag], born: date | None = None,
              region: int | None = None) -> int:
    with world.connect() as conn:
        home = add_home(conn, HomeIn(region_id=region or world.community,
                                     address=f"{name}家 1 号"))
        return add_resident(conn, ResidentIn(home_id=home, name=name, care_tags=tags,
                                             birth_date=born))


def _rule_id(client: TestClient, headers: dict[str, str], tags: list[str]) -> int:
    rules = client.get("/api/care-rules", headers=headers).json()
    return int(next(r["id"] for r in rules if r["tags"] == tags))


def test_the_default_rules_plan_visits_calls_and_raises(world: World) -> None:
    with world.connect() as conn:
        rules = list_rules(conn)
    today = date(2026, 12, 4)
    empty_nest = plan_for([EMPTY_NEST], None, rules, today)
    assert (empty_nest.visit_every_days, empty_nest.call_every_days,
            empty_nest.raise_priority) == (30, 14, False)
    alone = plan_for([ALONE], date(1960, 1, 1), rules, today)
    assert (alone.visit_every_days, alone.call_every_days, alone.raise_priority) == \
        (None, 7, False)
    # 80 on the day: 高龄 from the birth date, and with 独居 the raise
    aged_alone = plan_for([ALONE], date(1946, 12, 4), rules, today)
    assert aged_alone.tags == [AGED, ALONE]
    assert (aged_alone.visit_every_days, aged_alone.call_every_days,
            aged_alone.raise_priority) == (30, 7, True)
    assert not plan_for([ALONE], date(1946, 12, 5), rules, today).raise_priority, "79 today"
    assert plan_for([], None, rules, today).rules == []


def test_an_admins_edit_changes_the_next_alarms_priority_and_is_audited(
        world: World, staff: Staff, client: TestClient) -> None:
    ada = bearer(world, staff.admin)
    alone = _resident(world, "独居张", [CareTag.ALONE])
    with world.connect() as conn:
        before = raise_alert(conn, AlertType.INACTIVITY, Priority.P2,
                             resident_context(conn, alone)).alert
    assert before.priority == Priority.P2

    rule = _rule_id(client, ada, [ALONE])
    r = client.put(f"/api/care-rules/{rule}", headers=ada, json={
        "tags": [ALONE], "call_every_days": 3, "raise_priority": True, "note": "寒潮期间"})
    assert r.status_code == 204, r.text
    plan = client.get(f"/api/residents/{alone}/care-plan", headers=ada).json()
    assert (plan["call_every_days"], plan["raise_priority"]) == (3, True)
    assert rule in plan["rules"]

    with world.connect() as conn:
        after = raise_alert(conn, AlertType.VITALS, Priority.P2,
                            resident_context(conn, alone)).alert
    assert after.priority == Priority.P1

    history = client.get("/api/care-rules/history", headers=bearer(world, staff.auditor)).json()
    assert history[0]["entity_id"] == rule
    assert history[0]["actor"] == "Ada"
    assert history[0]["changes"]["call_every_days"] == [7, 3]
    assert history[0]["changes"]["raise_priority"] == [False, True]


def test_only_admins_edit_and_bad_rules_are_refused(world: World, staff: Staff,
                                                    client: TestClient) -> None:
    ada, sam = bearer(world, staff.admin), bearer(world, world.supervisor)
    assert client.get("/api/care-rules", headers=bearer(world, world.operator)).status_code == 200
    tags = [CareTag.DEMENTIA.value, ALONE]
    body: dict[str, Any] = {"tags": tags, "visit_every_days": 7}
    assert client.post("/api/care-rules", headers=sam, json=body).status_code == 403
    assert client.get("/api/care-rules/history",
                      headers=bearer(world, world.operator)).status_code == 403

    r = client.post("/api/care-rules", headers=ada, json=body)
    assert r.status_code == 201
    created = r.json()["id"]
    again = client.post("/api/care-rules", headers=ada,
                        json={**body, "tags": tags[::-1]})
    assert again.status_code == 409, "the same set of tags, in another order"

    bad = client.post("/api/care-rules", headers=ada, json={"tags": ["不存在"]})
    assert bad.status_code == 422
    assert "tags" in bad.text
    refused: list[dict[str, Any]] = [{"tags": [ALONE], "visit_every_days": 0}, {"tags": []},
                                     {"tags": [ALONE], "call_every_days": "weekly"}]
    for wrong in refused:
        assert client.post("/api/care-rules", headers=ada, json=wrong).status_code == 422, wrong
    assert client.put("/api/care-rules/999999", headers=ada,
                      json={"tags": [ALONE]}).status_code == 404

    assert client.delete(f"/api/care-rules/{created}", headers=ada).status_code == 204
    assert created not in {r["id"] for r in client.get("/api/care-rules", headers=ada).json()}
    deleted = client.get("/api/care-rules/history", headers=ada).json()[0]
    assert deleted["action"] == "delete"
    assert deleted["changes"]["visit_every_days"] == [7, None]


def test_residents_are_listed_and_counted_by_tag_within_the_callers_regions(
        world: World, client: TestClient) -> None:
    _resident(world, "空巢李", [CareTag.EMPTY_NEST, CareTag.ALONE])
    _resident(world, "空巢赵", [CareTag.EMPTY_NEST])
    _resident(world, "外区空巢", [CareTag.EMPTY_NEST], region=world.other_community)
    alice, sam = bearer(world, world.operator), bearer(world, world.supervisor)

    listed = client.get("/api/residents", headers=alice,
                        params=[("tag", EMPTY_NEST), ("tag", ALONE)]).json()
    assert [r["name"] for r in listed] == ["空巢李"]
    by_one = client.get("/api/residents", headers=alice, params={"tag": EMPTY_NEST}).json()
    assert {r["name"] for r in by_one} == {"空巢李", "空巢赵"}
    assert client.get("/api/residents", headers=alice,
                      params={"tag": "不存在"}).status_code == 422

    with world.connect() as conn:
        everywhere = dict(conn.execute(
            "SELECT t, count(*) FROM residents, unnest(care_tags) t GROUP BY t").fetchall())
        total = conn.execute("SELECT count(*) FROM residents").fetchone()
    counted = client.get("/api/directory/tag-counts", headers=sam).json()
    assert counted == {"total": total[0] if total else 0, "tags": everywhere}
    mine = client.get("/api/directory/tag-counts", headers=alice).json()
    assert mine["tags"][EMPTY_NEST] == 2
    assert mine["total"] == counted["total"] - 1
