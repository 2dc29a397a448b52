"""The directory service on real PostgreSQL: region scope on every read, typed rows, writes in
one transaction that name the field they refuse, and the API's one error format for them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from kernel.contract import EventType, Topics
from kernel.services.broker import BrokerAddress
from server import charts, directory, reports
from server.alerts import engine
from server.alerts.model import SYSTEM, Role
from server.app import create_app
from server.auth.users import User
from server.directory import (
    ContactIn,
    GatewayIn,
    HomeIn,
    RegionIn,
    UserIn,
    add_contact,
    add_gateway,
    add_home,
    add_region,
    add_user,
    contacts_for,
    list_gateways,
    resident_record,
    search_residents,
    wearables_of,
)
from server.directory.records import create, insert
from server.directory.sensitive import Access
from server.errors import Conflict, Invalid, NotFound
from server.scope import Scope
from server.settings import Settings
from server.store import copy_acc_blocks, insert_events
from tests.fixtures.broker import server_broker
from tests.fixtures.ingest import make_block, make_event
from tests.fixtures.world import GATEWAY, PASSWORD, PENDANT, World

_n = iter(range(1, 10**6))
READ = Access(SYSTEM, "test")


def get_resident(conn: psycopg.Connection[Any], scope: Scope, resident_id: int) -> Any:
    return resident_record(conn, scope, resident_id, READ)


def scopes(world: World) -> dict[str, Scope]:
    users: dict[str, User] = {"alice": world.operator, "bob": world.operator2,
                              "olga": world.outsider, "sam": world.supervisor}
    return {name: Scope.of(user) for name, user in users.items()}


def count(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
    return int(row.fetchone()[0])  # type: ignore[index]


# --- the region scope --------------------------------------------------------------------------

def test_a_scope_is_the_users_regions_and_a_street_covers_its_communities(world: World) -> None:
    s = scopes(world)
    assert (s["alice"], s["sam"]) == (Scope((world.community,)), Scope(None))
    with world.connect() as conn:
        seen = {name: [r.id for r in search_residents(conn, scope)] for name, scope in s.items()}
        assert seen == {"alice": [world.resident], "bob": [world.resident], "olga": [],
                        "sam": [world.resident]}
        assert get_resident(conn, s["bob"], world.resident).address == "幸福路 8 号 3 单元 201"
        with pytest.raises(NotFound, match=f"no resident {world.resident}"):
            get_resident(conn, s["olga"], world.resident)  # as if it did not exist
        with pytest.raises(NotFound):
            wearables_of(conn, s["olga"], world.resident)


def test_a_scope_composes_with_the_querys_own_parameters(world: World) -> None:
    query = sql.SQL("SELECT count(*) FROM homes h WHERE h.address LIKE %s AND {}")
    with world.connect() as conn:
        for name, expected in (("alice", 1), ("olga", 0), ("sam", 1)):
            where = scopes(world)[name].where("h.region_id")
            assert conn.execute(query.format(where), ("幸福路%",)).fetchone() == (expected,)
        # Not a string pasted into the query: the region ids are bound as literals.
        assert "%s" not in Scope((1, 2)).where("region_id").as_string(conn)


def test_gateways_not_yet_at_a_home_are_listed_for_everyone(world: World) -> None:
    with world.connect() as conn:
        add_gateway(conn, GatewayIn(id="gw-spare-0001"))
        listed = {name: [g.id for g in list_gateways(conn, scope)]
                  for name, scope in scopes(world).items()}
    both = ["gw-spare-0001", GATEWAY]  # by id
    assert listed == {"alice": both, "bob": both, "olga": ["gw-spare-0001"], "sam": both}


# --- typed rows --------------------------------------------------------------------------------

def test_a_resident_comes_with_contacts_in_call_order_and_only_their_wearables(
        world: World) -> None:
    with world.connect() as conn:
        add_contact(conn, ContactIn(resident_id=world.resident, name="王芳", relation="女儿",
                                    phones=["13800000002"], call_order=3))
        add_contact(conn, ContactIn(resident_id=world.resident, name="李阿姨", relation="邻居",
                                    phones=["13800000003"], call_order=2))
        resident = get_resident(conn, Scope(None), world.resident)
        assert [(c.name, c.call_order) for c in resident.contacts] == [
            ("王强", 1), ("李阿姨", 2), ("王芳", 3)]
        assert resident.contacts == contacts_for(conn, [world.resident], READ)
        assert (resident.name, resident.care_tags, resident.region_id) == (
            "王秀英", ["高龄", "独居"], world.community)
        assert wearables_of(conn, Scope(None), world.resident) == [PENDANT], \
            "the button is the resident's too, but it has no accelerometer"
        # The alert detail reads the cards and contacts through the sensitive reads.
        assert directory.resident_cards(conn, world.home, READ)[0].name == "王秀英"
        assert directory.contacts_for(conn, [world.resident], READ)[0].phone == "13800000001"


# --- writes ------------------------------------------------------------------------------------

def test_a_write_naming_a_missing_row_is_not_found_for_that_field(world: World) -> None:
    with world.connect() as conn:
        homes, users = count(conn, "homes"), count(conn, "users")
        with pytest.raises(NotFound, match="no region 987654") as refused:
            add_home(conn, HomeIn(region_id=987654, address="幸福路 9 号"))
        assert refused.value.field == "region_id"
        with pytest.raises(NotFound) as refused:
            add_user(conn, UserIn(username="zed", display_name="Z", role=Role.OPERATOR,
                                  password="long enough password",
                                  regions=[world.community, 987654]))
        assert (refused.value.field, str(refused.value)) == ("regions", "no region 987654")
        assert (count(conn, "homes"), count(conn, "users")) == (homes, users)


def test_system_is_no_users_role(world: World) -> None:
    with world.connect() as conn, pytest.raises(Invalid) as refused:
        add_user(conn, UserIn(username="zed", display_name="Z", role=Role.SYSTEM,
                              password="long enough password"))
    assert refused.value.field == "role"


def test_a_write_is_one_transaction_and_a_duplicate_a_conflict(world: World) -> None:
    with world.connect() as conn:
        with pytest.raises(Conflict, match="gateways_pkey"):
            add_gateway(conn, GatewayIn(id=GATEWAY))
        regions = count(conn, "regions")

        def two_regions(c: psycopg.Connection[Any]) -> int:
            insert(c, "regions", {"name": "新街道", "level": "街道"})
            return int(insert(c, "regions", {"name": "新街道", "level": "街道"}))  # same name

        with pytest.raises(Conflict):
            create(conn, RegionIn(name="新街道", level="街道"), two_regions)
        assert count(conn, "regions") == regions


def test_a_row_removed_between_the_check_and_the_write_is_a_conflict(world: World) -> None:
    """Another connection deletes the region after the check found it (the race, made real)."""
    with world.connect() as conn, world.connect() as other:
        region = add_region(conn, RegionIn(name="拆迁社区", level="社区", parent_id=world.street))
        body = HomeIn(region_id=region, address="拆迁路 1 号")

        def meanwhile(c: psycopg.Connection[Any]) -> int:
            other.execute("DELETE FROM regions WHERE id = %s", (region,))
            return int(insert(c, "homes", body.model_dump()))

        with pytest.raises(Conflict, match="removed meanwhile"):
            create(conn, body, meanwhile)
        assert conn.execute("SELECT count(*) FROM homes WHERE address = '拆迁路 1 号'"
                            ).fetchone() == (0,)


# --- reports and charts read in scope ----------------------------------------------------------

def press(world: World, etype: EventType, device: str) -> int:
    event = make_event(GATEWAY, next(_n), etype, device)
    with world.connect() as conn, conn.transaction():
        insert_events(conn, [event], time.time())
        return engine.on_events(conn, [event])[0]


def test_answer_times_and_traces_count_only_alerts_in_scope(world: World) -> None:
    fall = press(world, EventType.FALL, PENDANT)
    s = scopes(world)
    with world.connect() as conn:
        alarms = {name: reports.answer_times(conn, scope).alarms for name, scope in s.items()}
        assert alarms == {"alice": 1, "bob": 1, "olga": 0, "sam": 1}
        assert charts.fall_trace(conn, s["alice"], fall).device == PENDANT
        with pytest.raises(NotFound, match=f"no alert {fall}"):
            charts.fall_trace(conn, s["olga"], fall)


# --- the API over the service ------------------------------------------------------------------

@pytest.fixture
def client(world: World, mqtt_broker: BrokerAddress, topics: Topics) -> Iterator[TestClient]:
    settings = Settings(database_url=world.schema.conninfo, **server_broker(mqtt_broker),
                        mqtt_root=topics.root, detectors=False)
    with TestClient(create_app(settings, ingest=False)) as c:
        yield c


def login(client: TestClient, username: str) -> dict[str, str]:
    r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return {"authorization": f"Bearer {r.json()['token']}"}


def test_the_api_answers_the_services_refusals_in_the_one_format(client: TestClient,
                                                                 world: World) -> None:
    with world.connect() as conn:
        add_user(conn, UserIn(username="root", display_name="Root", role=Role.ADMIN,
                              password=PASSWORD))
    root = login(client, "root")
    r = client.post("/api/users", headers=root, json={
        "username": "zed", "display_name": "Z", "role": "system", "password": PASSWORD})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid"
    assert r.json()["error"]["details"] == [{
        "field": "role", "message": "'system' is not a role a user can have",
        "type": "value_error"}]
    r = client.post("/api/gateways", headers=root, json={"id": GATEWAY})
    assert (r.status_code, r.json()["error"]["code"], r.json()["error"]["details"]) == (
        409, "conflict", [])
    r = client.get(f"/api/residents/{world.resident}", headers=login(client, "olga"))
    assert (r.status_code, r.json()["error"]["message"]) == (404, f"no resident {world.resident}")


def test_the_directory_reads_keep_their_shape(client: TestClient, world: World) -> None:
    """The console reads these fields (the rows are typed now; the JSON is as before)."""
    sam = login(client, "sam")
    one = client.get(f"/api/residents/{world.resident}", headers=sam).json()
    assert set(one) == {"id", "home_id", "name", "sex", "birth_date", "phone", "care_tags",
                        "conditions", "medications", "allergies", "languages", "photo_url",
                        "status", "status_since", "status_note", "away_until", "created_at",
                        "updated_at", "vital_limits", "inactivity_rules", "address",
                        "region_id", "home", "contacts"}
    assert set(one["contacts"][0]) == {"id", "resident_id", "name", "relation", "phone",
                                       "phones", "call_order", "availability", "has_key",
                                       "active"}
    (listed,) = client.get("/api/residents", headers=sam, params={"q": "幸福"}).json()
    assert listed == {"id": world.resident, "name": "王秀英", "care_tags": ["高龄", "独居"],
                      "home_id": world.home, "address": "幸福路 8 号 3 单元 201",
                      "status": "active", "away_until": None}
    (gateway,) = client.get("/api/gateways", headers=sam).json()
    assert set(gateway) == {"id", "home_id", "address", "state", "state_since", "last_seen",
                            "outbox"}
    assert client.get("/api/regions", headers=sam).json()[0] == {
        "id": world.street, "parent_id": None, "name": "朝阳街道", "level": "街道"}


def test_a_fall_trace_is_the_window_around_the_fall_in_at_most_1200_points(
        client: TestClient, world: World) -> None:
    fall = press(world, EventType.FALL, PENDANT)
    with world.connect() as conn:
        row = conn.execute("SELECT min(e.ts) FROM alert_events ae JOIN events e ON "
                           "e.id = ae.event_id WHERE ae.alert_id = %s", (fall,)).fetchone()
        at_us = int(row[0].timestamp() * 1e6)  # type: ignore[index]
        start = at_us - 30_000_000
        copy_acc_blocks(conn, [(make_block(PENDANT, k, t0_us=start), time.time())
                               for k in range(80)])  # 1-s blocks from −30 s to +50 s
    trace = client.get(f"/api/alerts/{fall}/acc", headers=login(client, "alice")).json()
    assert trace["device"] == PENDANT
    assert -20.0 <= trace["t"][0] < -19.9
    assert 39.9 < trace["t"][-1] <= 40.0
    assert len(trace["t"]) == len(trace["g"]) <= 1200
    assert all(0.0 <= g < 3.0 for g in trace["g"])  # |a| of a resting wearable, in g
