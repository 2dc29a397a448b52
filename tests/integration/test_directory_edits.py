"""Editing the directory on real PostgreSQL: every change audited field by field, writes
confined to the actor's regions, deactivation instead of deletion, the resident search (pinyin
initials, phones, device ids), away mode and per-resident limits as the detectors see them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from analytics.inactivity import InactivityRules, Rule
from kernel.contract import Topics, VitalReading, Vitals
from kernel.services.broker import BrokerAddress
from server.alerts.model import SYSTEM, Actor, Role
from server.auth.users import create_user
from server.detect.inactivity import UTC_OFFSET_MIN, inactivity_pass
from server.detect.vitals import vitals_pass
from server.directory import (
    ContactEdit,
    ContactIn,
    HomeEdit,
    HomeIn,
    LimitsIn,
    RegionIn,
    Reorder,
    ResidentEdit,
    ResidentIn,
    StatusIn,
    add_contact,
    add_home,
    add_region,
    add_resident,
    deactivate_contact,
    edit_contact,
    edit_home,
    edit_resident,
    get_home,
    history,
    reorder_contacts,
    search_residents,
    set_limits,
    set_status,
)
from server.directory.sensitive import Access, contacts_for
from server.errors import NotFound
from server.scope import ALL, Scope
from server.store import ActivityMinute, copy_activity, copy_vitals, set_gateway_state
from tests.fixtures.api import api_client
from tests.fixtures.world import GATEWAY, PASSWORD, PENDANT, World

CORD = "rf-0a1b2c3e"  # the world's bathroom pull cord, here the hall's motion sensor
READ = Access(SYSTEM, "test")


def sam(world: World) -> Actor:
    return world.supervisor.actor


def audit_rows(conn: psycopg.Connection[Any], entity: str) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT actor, action, changes FROM directory_audit WHERE entity = %s "
                        "ORDER BY id", (entity,)).fetchall()


# --- audit -------------------------------------------------------------------------------------

def test_every_change_is_an_audit_row_with_before_and_after(world: World) -> None:
    with world.connect() as conn:
        created = len(history(conn, world.resident))
        edit_resident(conn, world.resident, ResidentEdit(phone="021-5555 0101",
                                                          medications=["氨氯地平", "阿司匹林"]),
                      actor=sam(world))
        edit_resident(conn, world.resident, ResidentEdit(phone="021-5555 0101"),
                      actor=sam(world))  # no change: no row
        (contact,) = contacts_for(conn, [world.resident], READ)
        edit_contact(conn, contact.id, ContactEdit(phones=["13900000009", "021-6666 0000"],
                                                   has_key=True), actor=sam(world))
        edit_home(conn, world.home, HomeEdit(key_safe_code="0000", notes="养狗，先敲门"),
                  actor=sam(world))
        entries = history(conn, world.resident)
    assert len(entries) - created == 3
    home, contact_change, resident = entries[:3]  # newest first
    assert (resident.actor, resident.entity, resident.action) == ("Sam", "resident", "update")
    assert resident.changes == {"phone": [None, "021-5555 0101"],
                                "medications": [["氨氯地平"], ["氨氯地平", "阿司匹林"]]}
    assert contact_change.changes == {
        "contact": ["王强", "王强"], "phones": [["13800000001"], ["13900000009", "021-6666 0000"]],
        "has_key": [False, True]}
    # the key-safe code is never copied into the audit: changed, not what to
    assert home.changes == {"key_safe_code": ["•", "•"], "notes": ["", "养狗，先敲门"]}


def test_status_limits_and_call_order_are_audited_too(world: World) -> None:
    until = datetime.now(UTC) + timedelta(days=10)
    with world.connect() as conn:
        second = add_contact(conn, ContactIn(resident_id=world.resident, name="李阿姨",
                                             relation="邻居", phones=["13800000003"]),
                             actor=sam(world))
        (first, _) = [c.id for c in contacts_for(conn, [world.resident], READ)]
        reorder_contacts(conn, world.resident, Reorder(contact_ids=[second, first]),
                         actor=sam(world))
        set_status(conn, world.resident, StatusIn(status="away", until=until, note="去女儿家"),
                   actor=sam(world))
        set_limits(conn, world.resident, LimitsIn.model_validate(
            {"vital": {"hr_high": 110}, "inactivity": {"continuous_h": 6}}), actor=sam(world))
        actions = [(e.action, e.changes) for e in history(conn, world.resident)[:4]]
        order = [c.name for c in contacts_for(conn, [world.resident], READ)]
    assert order == ["李阿姨", "王强"]
    limits, status, reorder, added = actions
    assert limits == ("limits", {"vital_limits": [{}, {"hr_high": 110.0}],
                                 "inactivity_rules": [{}, {"continuous_h": 6.0}]})
    assert status[0] == "status"
    assert status[1]["status"] == ["active", "away"]
    assert status[1]["away_until"] == [None, until.isoformat()]
    assert reorder == ("reorder_contacts", {"contacts": [["王强", "李阿姨"], ["李阿姨", "王强"]]})
    assert added[0] == "create"


# --- writes in the actor's regions --------------------------------------------------------------

@pytest.fixture
def client(world: World, mqtt_broker: BrokerAddress, topics: Topics) -> Iterator[TestClient]:
    with world.connect() as conn:
        for name, role, regions in (("otto", Role.SUPERVISOR, (world.other_community,)),
                                    ("tina", Role.TECHNICIAN, (world.community,))):
            create_user(conn, name, name.capitalize(), role, PASSWORD, regions=regions)
    with api_client(world, mqtt_broker, topics) as c:
        yield c


def login(client: TestClient, username: str) -> dict[str, str]:
    r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return {"authorization": f"Bearer {r.json()['token']}"}


def test_a_supervisor_writes_only_in_their_regions(client: TestClient, world: World) -> None:
    otto = login(client, "otto")  # supervisor of the other community
    refused = [
        client.post("/api/homes", headers=otto,
                    json={"region_id": world.community, "address": "幸福路 9 号"}),
        client.post("/api/residents", headers=otto, json={"home_id": world.home, "name": "新"}),
        client.patch(f"/api/residents/{world.resident}", headers=otto, json={"phone": "1"}),
        client.put(f"/api/residents/{world.resident}/status", headers=otto,
                   json={"status": "in_hospital"}),
        client.patch(f"/api/homes/{world.home}", headers=otto, json={"notes": "x"}),
        client.post("/api/contacts", headers=otto,
                    json={"resident_id": world.resident, "name": "x", "phones": ["123"]}),
    ]
    assert [r.status_code for r in refused] == [404] * 6
    assert [r.json()["error"]["details"][0]["field"] for r in refused[:2]] == [
        "region_id", "home_id"]
    # in their own community they may
    home = client.post("/api/homes", headers=otto, json={
        "region_id": world.other_community, "address": "和平街 1 号"})
    assert home.status_code == 201
    assert client.post("/api/residents", headers=otto, json={
        "home_id": home.json()["id"], "name": "赵文华"}).status_code == 201
    # nor move a home or a resident out of their regions
    moved = client.patch(f"/api/homes/{home.json()['id']}", headers=otto,
                         json={"region_id": world.community})
    assert (moved.status_code, moved.json()["error"]["details"][0]["field"]) == (404,
                                                                                "region_id")
    with world.connect() as conn:
        assert conn.execute("SELECT count(*) FROM homes WHERE region_id = %s",
                            (world.community,)).fetchone() == (1,)
        assert conn.execute("SELECT phone FROM residents WHERE id = %s",
                            (world.resident,)).fetchone() == (None,)


def test_operators_read_technicians_read_less_and_neither_writes(client: TestClient,
                                                                 world: World) -> None:
    alice, tina = login(client, "alice"), login(client, "tina")
    full = client.get(f"/api/residents/{world.resident}", headers=alice).json()
    assert full["conditions"] == ["高血压"]
    assert full["contacts"][0]["phone"] == "13800000001"
    assert full["home"]["has_key_safe"] is True
    assert "key_safe_code" not in full["home"]
    basic = client.get(f"/api/residents/{world.resident}", headers=tina).json()
    assert basic["name"] == "王秀英"
    assert basic["home"]["address"] == "幸福路 8 号 3 单元 201"
    assert not {"conditions", "medications", "allergies", "contacts"} & basic.keys()
    assert client.get(f"/api/residents/{world.resident}/history", headers=tina
                      ).status_code == 403
    assert [d["uid"] for d in client.get(f"/api/residents/{world.resident}/devices",
                                         headers=tina).json()][:2] == ["ble-c82e470a1b2c",
                                                                       "rf-0a1b2c3d"]
    for headers in (alice, tina):
        r = client.patch(f"/api/residents/{world.resident}", headers=headers,
                         json={"phone": "1"})
        assert r.status_code == 403
    olga = login(client, "olga")  # an operator of the other community
    assert client.get(f"/api/residents/{world.resident}", headers=olga).status_code == 404
    assert client.get(f"/api/residents/{world.resident}/history", headers=olga
                      ).status_code == 404


# --- deactivation, never deletion -------------------------------------------------------------

def test_residents_and_contacts_are_deactivated_not_deleted(client: TestClient,
                                                            world: World) -> None:
    sam_h = login(client, "sam")
    assert client.delete(f"/api/residents/{world.resident}", headers=sam_h).status_code == 405
    refused = client.post(f"/api/homes/{world.home}/deactivate", headers=sam_h, json={})
    assert refused.status_code == 409  # someone still lives there
    contact = client.get(f"/api/residents/{world.resident}", headers=sam_h).json()["contacts"][0]
    assert client.post(f"/api/contacts/{contact['id']}/deactivate", headers=sam_h,
                       json={"note": "号码停用"}).status_code == 200
    r = client.put(f"/api/residents/{world.resident}/status", headers=sam_h,
                   json={"status": "moved", "note": "搬去养老院"})
    assert r.status_code == 200
    assert client.post(f"/api/homes/{world.home}/deactivate", headers=sam_h, json={}
                       ).json()["active"] is False
    kept = client.get(f"/api/residents/{world.resident}", headers=sam_h).json()
    assert (kept["status"], kept["status_note"]) == ("moved", "搬去养老院")
    assert [(c["name"], c["active"], c["call_order"]) for c in kept["contacts"]] == [
        ("王强", False, None)]
    assert client.get("/api/residents", headers=sam_h).json() == []  # not in the search
    listed = client.get("/api/residents", headers=sam_h, params={"include_inactive": True})
    assert [r["id"] for r in listed.json()] == [world.resident]
    with world.connect() as conn:
        assert contacts_for(conn, [world.resident], READ) == []  # off the call list
        assert conn.execute("SELECT count(*) FROM contacts").fetchone() == (1,)


def test_deactivating_a_contact_closes_up_the_call_order(world: World) -> None:
    with world.connect() as conn:
        ids = [add_contact(conn, ContactIn(resident_id=world.resident, name=n,
                                           phones=["13800000077"]), actor=sam(world))
               for n in ("二", "三")]
        deactivate_contact(conn, ids[0], actor=sam(world))
        order = [(c.name, c.call_order) for c in contacts_for(conn, [world.resident], READ)]
    assert order == [("王强", 1), ("三", 2)]


# --- search ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "found"), [
    ("wxy", True), ("WXY", True), ("xy", True), ("wangxiuying", True), ("wangx", True),
    ("xiuying", True), ("秀英", True), ("王秀英", True), ("wxz", False),
    ("0001", True),  # the last four digits of her son's number
    ("138 0000 0001", True), ("幸福路 8 号", True), ("0a1b2c3d", True), ("ble-c82e", True),
])
def test_a_resident_is_found_by_pinyin_initials_phone_address_or_device(
        world: World, query: str, found: bool) -> None:
    with world.connect() as conn:
        ids = [r.id for r in search_residents(conn, Scope.of(world.operator), query)]
        outside = search_residents(conn, Scope.of(world.outsider), query)
    assert ids == ([world.resident] if found else [])
    assert outside == []


def test_search_terms_follow_every_write(world: World) -> None:
    with world.connect() as conn:
        home = add_home(conn, HomeIn(region_id=world.community, address="幸福路 20 号"))
        zeng = add_resident(conn, ResidentIn(home_id=home, name="曾德明", phone="13911112222"))
        assert [r.id for r in search_residents(conn, ALL, "zdm")] == [zeng]
        assert [r.id for r in search_residents(conn, ALL, "cdm")] == [zeng]  # 曾: zeng, ceng
        edit_resident(conn, zeng, ResidentEdit(name="单德明", phone="13933334444"))
        assert search_residents(conn, ALL, "zdm") == []
        assert search_residents(conn, ALL, "2222") == []
        assert [r.id for r in search_residents(conn, ALL, "sdm")] == [zeng]
        assert [r.id for r in search_residents(conn, ALL, "4444")] == [zeng]
        contact = add_contact(conn, ContactIn(resident_id=zeng, name="单丽",
                                              phones=["13755556666"]))
        assert [r.id for r in search_residents(conn, ALL, "6666")] == [zeng]
        deactivate_contact(conn, contact)
        assert search_residents(conn, ALL, "6666") == []


# --- away mode and the detectors ---------------------------------------------------------------

TWO_HOURS = InactivityRules(rules=(Rule("continuous_2h", 2.0),), sleep=None, prewarn_min=15)


def quiet_since(conn: psycopg.Connection[Any], now_min: int, minutes: int) -> None:
    """The hall sensor saw someone every minute for a day, until ``minutes`` ago."""
    set_gateway_state(conn, GATEWAY, "online", time.time())
    copy_activity(conn, [ActivityMinute(CORD, (now_min - minutes - k) * 60, "pir", 1)
                         for k in range(24 * 60)])


def inactivity_alerts(conn: psycopg.Connection[Any]) -> list[Any]:
    return conn.execute("SELECT resident_id, details->>'rule' FROM alerts "
                        "WHERE type = 'inactivity'").fetchall()


def at_minute(m: int) -> datetime:
    return datetime.fromtimestamp(m * 60, UTC)


def test_away_mode_suppresses_inactivity_alarms_for_its_period(world: World) -> None:
    now_min = int(time.time() // 60)
    warned: list[Any] = []
    with world.connect() as conn:
        quiet_since(conn, now_min, 300)  # nobody seen for 5 h: the 2-h rule would have fired
        set_status(conn, world.resident, StatusIn(status="away", since=at_minute(now_min - 290),
                                                  until=at_minute(now_min + 60)))
        assert inactivity_pass(conn, now_min, set(), lambda p: warned.append(p.resident),
                               TWO_HOURS) == []
        assert (warned, inactivity_alerts(conn)) == ([], [])
        # a hospital stay without an end pauses them too
        set_status(conn, world.resident, StatusIn(status="in_hospital",
                                                  since=at_minute(now_min - 290)))
        assert inactivity_pass(conn, now_min, set(), None, TWO_HOURS) == []


def test_after_away_mode_the_count_starts_afresh_and_alarms(world: World) -> None:
    now_min = int(time.time() // 60)
    with world.connect() as conn:
        quiet_since(conn, now_min, 300)
        # back 120 minutes ago and not seen since: two hours of inactivity *after* the period
        set_status(conn, world.resident, StatusIn(status="away", since=at_minute(now_min - 290),
                                                  until=at_minute(now_min - 120)))
        touched = inactivity_pass(conn, now_min, set(), None, TWO_HOURS)
        assert inactivity_alerts(conn) == [(world.resident, "continuous_2h")]
    assert len(touched) == 1


def test_moved_residents_are_no_longer_watched(world: World) -> None:
    now_min = int(time.time() // 60)
    with world.connect() as conn:
        quiet_since(conn, now_min, 120)
        set_status(conn, world.resident, StatusIn(status="moved"))
        assert inactivity_pass(conn, now_min, set(), None, TWO_HOURS) == []


def far_from(now_min: int, hours: float) -> float:
    """An hour of the day ``hours`` after now (local time): windows there cannot fire now."""
    return float(((now_min + UTC_OFFSET_MIN) // 60 + hours) % 24)


def test_a_residents_own_inactivity_window_is_what_the_detector_uses(world: World) -> None:
    now_min = int(time.time() // 60)
    own = {"continuous_h": 1.5, "sleep_start_h": far_from(now_min, 10),
           "sleep_end_h": far_from(now_min, 11), "morning_start_h": far_from(now_min, 12),
           "morning_end_h": far_from(now_min, 13), "day_start_h": far_from(now_min, 14),
           "day_end_h": far_from(now_min, 15)}
    with world.connect() as conn:
        quiet_since(conn, now_min, 90)
        assert inactivity_pass(conn, now_min, set(), None, TWO_HOURS) == []  # 90 min < 2 h
        set_limits(conn, world.resident, LimitsIn.model_validate({"inactivity": own}))
        touched = inactivity_pass(conn, now_min, set(), None, TWO_HOURS)
        assert inactivity_alerts(conn) == [(world.resident, "continuous_1.5h")]
    assert len(touched) == 1


def test_a_residents_own_vital_limit_is_what_the_detector_uses(world: World) -> None:
    now = time.time()
    readings = [VitalReading(ts=now - 600 + 10 * i, hr=120, contact=True) for i in range(50)]
    with world.connect() as conn:
        copy_vitals(conn, [Vitals(gw=GATEWAY, device=PENDANT, readings=readings)])
        assert vitals_pass(conn, set()) == []  # 120 bpm is within the default 130
        set_limits(conn, world.resident, LimitsIn.model_validate({"vital": {"hr_high": 110}}))
        assert len(vitals_pass(conn, set())) == 1
        row = conn.execute("SELECT details FROM alerts WHERE type = 'vitals'").fetchone()
        assert row is not None
        (details,) = row
    assert details["kind"] == "hr_high"


def test_limits_refuse_nonsense_and_show_the_defaults(client: TestClient, world: World) -> None:
    sam_h = login(client, "sam")
    r = client.put(f"/api/residents/{world.resident}/limits", headers=sam_h,
                   json={"vital": {"hr_low": 120, "hr_high": 100}})
    assert r.status_code == 422
    r = client.put(f"/api/residents/{world.resident}/limits", headers=sam_h,
                   json={"vital": {"spo2_low": 30}})
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == \
        "vital.spo2_low"
    vocab = client.get("/api/directory/vocabulary", headers=login(client, "alice")).json()
    assert vocab["defaults"]["vital"]["hr_high"] == 130.0
    assert vocab["defaults"]["inactivity"]["continuous_h"] == 4.0
    assert "高龄" in vocab["care_tags"]
    assert "in_hospital" in vocab["statuses"]


# --- districts ---------------------------------------------------------------------------------

def test_a_district_covers_its_streets_and_their_communities(world: World) -> None:
    with world.connect() as conn:
        district = add_region(conn, RegionIn(name="浦东新区", level="区"))
        street = add_region(conn, RegionIn(name="花木街道", level="街道", parent_id=district))
        community = add_region(conn, RegionIn(name="牡丹社区", level="社区", parent_id=street))
        home = add_home(conn, HomeIn(region_id=community, address="牡丹路 1 号"))
        scope = Scope((district,))
        assert scope.covers(conn, community)
        assert not scope.covers(conn, world.community)
        with pytest.raises(NotFound):
            add_home(conn, HomeIn(region_id=world.community, address="x"), scope=scope)
        found = get_home(conn, scope, home)
    assert (found.community, found.street, found.district) == ("牡丹社区", "花木街道", "浦东新区")
