"""主动关爱 care calls on real PostgreSQL, over the API: the schedule from the care rules (one
open call at a time, the next one after the interval), daily calls after a hospital stay, a
campaign for a tag, the call list's order, and what an outcome starts: a concern → a visit
task; two calls unanswered → an urgent visit task, or a welfare-check alert in the queue."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kernel.contract import Topics
from kernel.services.broker import BrokerAddress
from server.care_calls import make_schedule
from server.directory import CareTag, HomeIn, ResidentIn, StatusIn, add_home, add_resident
from server.directory.residents import set_status
from tests.fixtures.api import api_client
from tests.fixtures.staff import bearer
from tests.fixtures.world import World

TODAY = date.today()


@pytest.fixture
def client(world: World, mqtt_broker: BrokerAddress, topics: Topics) -> Iterator[TestClient]:
    with api_client(world, mqtt_broker, topics) as c:
        yield c


def _resident(world: World, name: str, tags: list[CareTag]) -> int:
    with world.connect() as conn:
        home = add_home(conn, HomeIn(region_id=world.community, address=f"{name}家"))
        return add_resident(conn, ResidentIn(home_id=home, name=name, care_tags=tags,
                                             phone="021-5555 0000"))


def _calls(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = client.get("/api/care-calls", headers=headers)
    assert r.status_code == 200, r.text
    return list(r.json())


def _visit_tasks(world: World, resident: int) -> list[tuple[Any, ...]]:
    with world.connect() as conn:
        return conn.execute("SELECT reason, priority, due_on FROM visit_tasks WHERE "
                            "resident_id = %s AND kind = 'follow_up' ORDER BY id",
                            (resident,)).fetchall()


def test_the_schedule_opens_one_call_at_a_time_and_the_next_after_the_interval(
        world: World, client: TestClient) -> None:
    alone = _resident(world, "独居钱", [CareTag.ALONE])  # weekly
    _resident(world, "无标签", [])
    with world.connect() as conn:  # (the server's own job may run it too: the same result)
        make_schedule(conn, TODAY)
        assert make_schedule(conn, TODAY) == 0, "one open call at a time"
    alice = bearer(world, world.operator)
    listed = _calls(client, alice)
    assert [c["resident"] for c in listed] == ["王秀英", "独居钱"], "无标签: no rule, no call"
    # 王秀英's rules raise her alarms: she is called first among calls due the same day
    assert listed[0]["risk"] > listed[1]["risk"]
    aged = client.get("/api/care-calls", headers=alice, params={"tag": "高龄"}).json()
    assert [c["resident"] for c in aged] == ["王秀英"]

    task = next(c for c in listed if c["resident_id"] == alone)
    r = client.post("/api/care-calls", headers=alice, json={
        "resident_id": alone, "task_id": task["id"], "outcome": "well", "notes": "一切都好"})
    assert r.status_code == 201, r.text
    assert r.json()["visit_task"] is None
    with world.connect() as conn:
        make_schedule(conn, TODAY)
        (due,) = conn.execute("SELECT due_on FROM care_call_tasks WHERE resident_id = %s AND "
                              "status = 'open'", (alone,)).fetchone() or (None,)
    assert due == TODAY + timedelta(days=7), "weekly, from the answered call"
    assert alone not in {c["resident_id"] for c in _calls(client, alice)}, "not due yet"


def test_a_concern_raises_a_visit_task_and_two_misses_an_urgent_one(
        world: World, client: TestClient) -> None:
    worried = _resident(world, "担心孙", [CareTag.ALONE])
    silent = _resident(world, "没接李", [CareTag.ALONE])
    with world.connect() as conn:
        make_schedule(conn, TODAY)
    alice = bearer(world, world.operator)
    tasks = {c["resident_id"]: c for c in _calls(client, alice)}
    r = client.post("/api/care-calls", headers=alice, json={
        "resident_id": worried, "task_id": tasks[worried]["id"], "outcome": "concern",
        "concern": "说最近头晕，不敢出门买菜"}).json()
    assert _visit_tasks(world, worried) == [("call_concern", 2, TODAY + timedelta(days=3))]
    assert r["visit_task"] is not None

    first = client.post("/api/care-calls", headers=alice, json={
        "resident_id": silent, "task_id": tasks[silent]["id"], "outcome": "no_answer"}).json()
    assert first["visit_task"] is None
    retry = next(c for c in _calls(client, alice) if c["id"] == first["retry_task"])
    assert (retry["kind"], retry["last_outcome"]) == ("retry", "no_answer")
    second = client.post("/api/care-calls", headers=alice, json={
        "resident_id": silent, "task_id": retry["id"], "outcome": "no_answer"}).json()
    assert second["retry_task"] is None
    assert _visit_tasks(world, silent) == [("calls_missed", 1, TODAY + timedelta(days=1))]

    history = client.get(f"/api/residents/{silent}/care-calls", headers=alice).json()
    assert [c["outcome"] for c in history] == ["no_answer", "no_answer"]
    assert client.get(f"/api/residents/{silent}/care-calls",
                      headers=bearer(world, world.outsider)).status_code == 404


def test_two_misses_can_open_a_welfare_check_alert_instead(
        world: World, mqtt_broker: BrokerAddress, topics: Topics) -> None:
    with api_client(world, mqtt_broker, topics, care_call_missed="alert") as client:
        alice = bearer(world, world.operator)
        for _ in range(2):
            made = client.post("/api/care-calls", headers=alice, json={
                "resident_id": world.resident, "outcome": "no_answer"}).json()
        assert made["alert_id"] is not None
        assert made["visit_task"] is None
        alert = client.get(f"/api/alerts/{made['alert_id']}", headers=alice).json()
        # a P2, raised to P1 by her care rules (高龄 + 独居)
        assert (alert["type"], alert["priority"], alert["state"]) == \
            ("welfare_check", "P1", "open")
        assert alert["resident_id"] == world.resident


def test_after_a_hospital_stay_and_in_a_campaign(world: World, client: TestClient) -> None:
    back = _resident(world, "出院赵", [])
    nest = _resident(world, "空巢冯", [CareTag.EMPTY_NEST])
    with world.connect() as conn:
        set_status(conn, back, StatusIn(status="in_hospital"))
        set_status(conn, back, StatusIn(status="active"))
        make_schedule(conn, TODAY)
    alice, sam = bearer(world, world.operator), bearer(world, world.supervisor)
    (after,) = [c for c in _calls(client, alice) if c["resident_id"] == back]
    assert after["kind"] == "after_hospital"

    r = client.post("/api/care-calls/campaigns", headers=sam, json={
        "name": "寒潮关爱", "reason": "cold", "region_id": world.community,
        "tags": [CareTag.EMPTY_NEST.value]})
    assert r.status_code == 201, r.text
    assert r.json()["residents"] == 1
    due = {c["kind"]: c for c in _calls(client, alice) if c["resident_id"] == nest}
    assert due["campaign"]["campaign"] == "寒潮关爱"
    assert set(due) == {"campaign", "schedule"}
    # one call answers both
    client.post("/api/care-calls", headers=alice, json={
        "resident_id": nest, "task_id": due["campaign"]["id"], "outcome": "well"})
    assert nest not in {c["resident_id"] for c in _calls(client, alice)}
    assert client.post("/api/care-calls/campaigns", headers=sam, json={
        "name": "x", "reason": "cold", "region_id": world.other_community + 10_000,
    }).status_code == 404
