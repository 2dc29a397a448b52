"""Privacy on real PostgreSQL: the access log (a row per sensitive read and export, append-only,
kept as long as the setting says, readable by supervisors, admins and auditors only), the
consent ledger and what a missing consent changes (no vitals stored; family phones only
through a logged emergency override that leaves an inform-afterwards task), and a resident's
export and erasure."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from kernel.contract import VitalReading, Vitals
from server.alerts import machine
from server.alerts.model import AlertType, NewAlert, Priority, Role
from server.auth.users import create_user, get_user
from server.care_calls import CallIn, Outcome, record_call
from server.jobs import AccessLogRetention, Db
from server.privacy import access_log
from server.privacy.subject import refresh_rollups
from server.scope import ALL
from server.settings import Settings
from server.store import copy_vitals, run_maintenance
from server.visits import VisitIn, record_visit
from tests.fixtures.staff import Staff, bearer
from tests.fixtures.world import BUTTON, GATEWAY, PENDANT, World

_n = iter(range(1, 10**6))


def open_alert(world: World) -> int:
    n = next(_n)
    with world.connect() as conn:
        alert = machine.open_alert(conn, NewAlert(
            AlertType.PANIC, Priority.P1, f"privacy:{n}", f"privacy {n}", world.community,
            world.home, world.resident, GATEWAY))
    assert alert is not None
    return alert.id


def log_rows(world: World) -> list[dict[str, Any]]:
    with world.connect() as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute("SELECT * FROM access_log ORDER BY id").fetchall()


def sql(world: World, query: str, *args: Any) -> Any:
    with world.connect() as conn:
        return conn.execute(query, args).fetchall()


# --- the access log -----------------------------------------------------------------------------

def test_each_sensitive_read_is_a_row_of_the_access_log(client: TestClient, world: World,
                                                        staff: Staff) -> None:
    alice = bearer(world, world.operator)
    alert = open_alert(world)
    assert client.get(f"/api/alerts/{alert}", headers=alice).status_code == 200
    assert client.post(f"/api/alerts/{alert}/claim", headers=alice).status_code == 200
    r = client.post(f"/api/alerts/{alert}/key-safe", headers=alice)
    assert r.status_code == 200
    assert r.json()["code"] == "4711"
    assert client.get(f"/api/residents/{world.resident}", headers=alice).status_code == 200
    rows = [(r["user_id"], r["user_name"], r["role"], r["purpose"], r["alert_id"],
             r["residents"], r["home_id"], r["fields"]) for r in log_rows(world)]
    me, name = world.operator.id, world.operator.display_name
    health = ["conditions", "medications", "allergies"]
    assert rows == [
        (me, name, "operator", "alert", alert, [world.resident], world.home, health),
        (me, name, "operator", "alert", alert, [world.resident], None, ["contacts.phones"]),
        (me, name, "operator", "alert", alert, [world.resident], world.home, ["key_safe_code"]),
        (me, name, "operator", "resident_page", None, [world.resident], world.home,
         [*health, "contacts.phones"])]
    # found by resident, user, field and time; the newest first
    auditor = bearer(world, staff.auditor)
    found = client.get("/api/access-log", headers=auditor,
                       params={"resident_id": world.resident, "user_id": me,
                               "field": "key_safe_code"}).json()
    assert [(f["alert_id"], f["fields"]) for f in found] == [(alert, ["key_safe_code"])]
    everything = client.get("/api/access-log", headers=auditor).json()
    assert [f["purpose"] for f in everything] == ["resident_page", "alert", "alert", "alert"]
    later = client.get("/api/access-log", headers=auditor,
                       params={"since": everything[0]["ts"]}).json()
    assert [f["id"] for f in later] == [everything[0]["id"]]


def test_only_supervisors_admins_and_auditors_read_the_access_log(
        client: TestClient, world: World, staff: Staff) -> None:
    for user, expected in ((world.operator, 403), (staff.technician, 403),
                           (world.supervisor, 200), (staff.admin, 200), (staff.auditor, 200)):
        assert client.get("/api/access-log", headers=bearer(world, user)).status_code == expected
    # a supervisor of another community sees the reads about theirs only
    client.get(f"/api/residents/{world.resident}", headers=bearer(world, world.operator))
    with world.connect() as conn:
        otto = get_user(conn, create_user(conn, "otto", "Otto", Role.SUPERVISOR, "x" * 12,
                                          regions=(world.other_community,)))
    assert otto is not None
    assert client.get("/api/access-log", headers=bearer(world, otto)).json() == []
    assert len(client.get("/api/access-log", headers=bearer(world, staff.auditor)).json()) == 1
    r = client.get("/api/access-log", headers=bearer(world, staff.auditor),
                   params={"resident_id": "x"})
    assert r.status_code == 422
    assert "resident_id" in r.text


def test_the_access_log_cannot_be_edited_or_deleted(client: TestClient, world: World) -> None:
    client.get(f"/api/residents/{world.resident}", headers=bearer(world, world.operator))
    before = log_rows(world)
    assert before
    for statement in ("UPDATE access_log SET user_name = 'someone else'",
                      "DELETE FROM access_log", "TRUNCATE access_log"):
        with world.connect() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)
    assert log_rows(world) == before
    # and no route of the API changes it
    writes = [(method, route.path) for route in client.app.routes  # type: ignore[attr-defined]
              if "access" in getattr(route, "path", "")
              for method in getattr(route, "methods", ()) if method not in ("GET", "HEAD")]
    assert writes == []


def test_retention_deletes_only_rows_older_than_the_setting(world: World) -> None:
    with world.connect() as conn:
        for days in (500, 401, 399, 10):
            with conn.transaction():  # rows of the past, written as they were then
                conn.execute("INSERT INTO access_log (ts, user_name, role, purpose) VALUES "
                             "(now() - %s, 'Alice', 'operator', 'alert')",
                             (timedelta(days=days),))
        assert access_log.purge(conn, Settings().access_log_retention) == 2
        ages = conn.execute("SELECT (now() - ts) > interval '398 days' FROM access_log "
                            "ORDER BY ts").fetchall()
        assert [a[0] for a in ages] == [True, False]
        # never less than six months, whatever is asked
        assert access_log.purge(conn, timedelta(days=1)) == 1
    with pytest.raises(ValidationError, match="access_log_retention"):
        Settings(access_log_retention=timedelta(days=100))


# --- consent ------------------------------------------------------------------------------------

def vitals_now(world: World) -> int:
    """Stores a minute of heart rate from the world's pendant; how many readings were kept."""
    now = time.time() + next(_n) * 100
    readings = [VitalReading(ts=now + i, hr=70, contact=True) for i in range(6)]
    with world.connect() as conn:
        return copy_vitals(conn, [Vitals(gw=GATEWAY, device=PENDANT,
                                         readings=readings)]).written


def test_consent_is_recorded_and_withdrawn(client: TestClient, world: World) -> None:
    sam, alice = bearer(world, world.supervisor), bearer(world, world.operator)
    path = f"/api/residents/{world.resident}/consents"
    r = client.post(f"{path}/health_monitoring/withdraw", headers=sam,
                    json={"withdrawn_by": "王秀英"})
    assert r.status_code == 200
    assert r.json()["withdrawn_by"] == "王秀英"
    ledger = client.get(path, headers=alice).json()
    assert "health_monitoring" not in ledger["in_force"]
    assert client.post(f"{path}/health_monitoring/withdraw", headers=sam,
                       json={"withdrawn_by": "x"}).status_code == 404
    grant = {"scope": "health_monitoring", "granted_by": "guardian",
             "granted_by_name": "王强", "document": "监护人同意书 2026-17"}
    assert client.post(path, headers=alice, json=grant).status_code == 403
    r = client.post(path, headers=sam, json=grant)
    assert r.status_code == 201, r.text
    assert (r.json()["granted_by"], r.json()["granted_by_name"], r.json()["document"]) == (
        "guardian", "王强", "监护人同意书 2026-17")
    assert client.post(path, headers=sam, json=grant).status_code == 409
    bad = client.post(path, headers=sam, json={**grant, "scope": "everything"})
    assert bad.status_code == 422
    assert "scope" in bad.text
    assert client.get("/api/residents/999999/consents", headers=sam).status_code == 404
    ledger = client.get(path, headers=alice).json()
    assert "health_monitoring" in ledger["in_force"]
    rows = [(c["scope"], c["granted_by_name"], c["withdrawn_at"] is None)
            for c in ledger["ledger"] if c["scope"] == "health_monitoring"]
    assert rows == [("health_monitoring", "王强", True), ("health_monitoring", "王秀英", False)]


def test_no_vitals_are_stored_without_health_monitoring_consent(
        client: TestClient, world: World) -> None:
    sam = bearer(world, world.supervisor)
    path = f"/api/residents/{world.resident}/consents"
    assert vitals_now(world) == 6
    client.post(f"{path}/health_monitoring/withdraw", headers=sam, json={"withdrawn_by": "王秀英"})
    assert vitals_now(world) == 0
    client.post(path, headers=sam, json={"scope": "health_monitoring", "granted_by": "resident",
                                          "granted_by_name": "王秀英"})
    assert vitals_now(world) == 6
    assert sql(world, "SELECT count(*) FROM vitals WHERE device = %s", PENDANT) == [(12,)]


def test_family_phones_without_consent_only_through_a_logged_override(
        client: TestClient, world: World) -> None:
    sam, alice = bearer(world, world.supervisor), bearer(world, world.operator)
    client.post(f"/api/residents/{world.resident}/consents/share_family/withdraw", headers=sam,
                json={"withdrawn_by": "王秀英"})
    alert = open_alert(world)
    shown = client.get(f"/api/alerts/{alert}", headers=alice).json()["contacts"]
    assert [(c["name"], c["phones"], c["withheld"]) for c in shown] == [("王强", [], True)]
    assert "13800000001" not in json.dumps(shown)
    assert not any("contacts.phones" in r["fields"] for r in log_rows(world))

    bad = client.post(f"/api/alerts/{alert}/override", headers=alice, json={})
    assert bad.status_code == 422
    assert "reason" in bad.text
    r = client.post(f"/api/alerts/{alert}/override", headers=alice, json={"reason": "无人应答"})
    assert r.status_code == 200, r.text
    assert [(c["name"], c["phones"]) for c in r.json()] == [("王强", ["13800000001"])]
    logged = [r for r in log_rows(world) if r["purpose"] == "emergency_override"]
    assert [(r["user_id"], r["alert_id"], r["reason"], r["fields"]) for r in logged] == [
        (world.operator.id, alert, "无人应答", ["contacts.phones"])]

    tasks = client.get("/api/inform-tasks", headers=sam).json()
    assert [(t["resident_id"], t["alert_id"], t["scope"], t["user_name"]) for t in tasks] == [
        (world.resident, alert, "share_family", world.operator.display_name)]
    assert client.get("/api/inform-tasks", headers=alice).status_code == 403
    with world.connect() as conn:  # a supervisor of another community does not see it
        otto = get_user(conn, create_user(conn, "otto", "Otto", Role.SUPERVISOR, "x" * 12,
                                          regions=(world.other_community,)))
    assert otto is not None
    assert client.get("/api/inform-tasks", headers=bearer(world, otto)).json() == []
    assert client.post(f"/api/inform-tasks/{tasks[0]['id']}/close", headers=bearer(world, otto),
                       json={}).status_code == 404
    done = client.post(f"/api/inform-tasks/{tasks[0]['id']}/close", headers=sam,
                       json={"note": "已告知王秀英"})
    assert done.status_code == 200
    assert done.json()["closed_by"] == world.supervisor.display_name
    assert client.get("/api/inform-tasks", headers=sam).json() == []
    assert client.post(f"/api/inform-tasks/{tasks[0]['id']}/close", headers=sam,
                       json={}).status_code == 409


# --- export and erasure -------------------------------------------------------------------------

def test_export_holds_everything_and_is_logged(client: TestClient, world: World,
                                               staff: Staff) -> None:
    ada = bearer(world, staff.admin)
    alert = open_alert(world)
    client.get(f"/api/alerts/{alert}", headers=bearer(world, world.operator))
    vitals_now(world)
    assert client.get(f"/api/residents/{world.resident}/export",
                      headers=bearer(world, world.supervisor)).status_code == 403
    r = client.get(f"/api/residents/{world.resident}/export", headers=ada)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["resident"]["name"] == "王秀英"
    assert data["resident"]["conditions"] == ["高血压"]
    assert [c["phones"] for c in data["contacts"]] == [["13800000001"]]
    assert data["home"]["address"] == "幸福路 8 号 3 单元 201"
    assert {d["uid"] for d in data["devices"]} == {BUTTON, PENDANT}
    assert data["telemetry"]["vitals"] == 6
    assert [a["id"] for a in data["alerts"]] == [alert]
    assert {c["scope"] for c in data["consents"]} >= {"health_monitoring", "share_family"}
    assert [a["alert_id"] for a in data["access_log"]][-2:] == [alert, alert]
    assert any(h["action"] == "create" for h in data["history"])
    text = client.get(f"/api/residents/{world.resident}/export.txt", headers=ada)
    assert text.status_code == 200
    assert text.headers["content-type"].startswith("text/plain")
    assert "姓名：王秀英" in text.text
    assert "13800000001" in text.text
    exports = [r for r in log_rows(world) if r["purpose"] == "export"]
    assert [(r["user_id"], r["residents"]) for r in exports] == [
        (staff.admin.id, [world.resident])] * 2
    audit = sql(world, "SELECT actor, action FROM directory_audit WHERE entity = 'resident' "
                "AND entity_id = %s AND action = 'export'", world.resident)
    assert audit == [(staff.admin.display_name, "export")] * 2
    assert client.get("/api/residents/999999/export", headers=ada).status_code == 404


def test_erasure_removes_personal_data_everywhere(client: TestClient, world: World,
                                                  staff: Staff) -> None:
    ada, sam = bearer(world, staff.admin), bearer(world, world.supervisor)
    alert = open_alert(world)
    alice = bearer(world, world.operator)
    client.post(f"/api/alerts/{alert}/claim", headers=alice)
    client.post(f"/api/alerts/{alert}/notes", headers=alice, json={"text": "王秀英说头晕"})
    vitals_now(world)
    with world.connect() as conn:
        run_maintenance(conn)  # the daily rollup of her readings (plain PostgreSQL)
        refresh_rollups(conn)  # (TimescaleDB: the continuous aggregate, as its policy would)
        # a grid worker's visit and a care call: what they found is personal too
        record_visit(conn, ALL, world.supervisor.actor, VisitIn(
            resident_id=world.resident, at_home=True, health="头晕，血压高", met="王秀英本人"))
        record_call(conn, ALL, world.operator.actor, CallIn(
            resident_id=world.resident, outcome=Outcome.CONCERN, concern="说头晕"))
    assert sql(world, "SELECT count(*) > 0 FROM vitals_daily WHERE device = %s",
               PENDANT) == [(True,)]
    erase = f"/api/residents/{world.resident}/erase"
    assert client.post(erase, headers=ada).status_code == 409  # still in care
    assert client.post(erase, headers=sam).status_code == 403
    r = client.put(f"/api/residents/{world.resident}/status", headers=sam,
                   json={"status": "moved", "note": "搬去女儿家"})
    assert r.status_code == 200, r.text
    r = client.post(erase, headers=ada)
    assert r.status_code == 200, r.text
    assert client.post(erase, headers=ada).status_code == 409  # once

    data = client.get(f"/api/residents/{world.resident}/export", headers=ada).json()
    text = json.dumps(data, ensure_ascii=False)
    for secret in ("王秀英", "13800000001", "王强", "高血压", "氨氯地平", "头晕", "幸福路 8 号",
                   "4711", "搬去女儿家"):
        assert secret not in text, secret
    assert data["resident"]["name"] == "已删除"
    assert data["contacts"] == []
    assert data["telemetry"]["vitals"] == 0
    assert len(data["visits"]) == 1, "kept, counted"
    assert len(data["care_calls"]) == 1
    assert [a["id"] for a in data["alerts"]] == [alert]  # kept, without personal fields
    for table in ("vitals", "vitals_daily"):
        assert sql(world, f"SELECT count(*) FROM {table} WHERE device = %s",
                   PENDANT) == [(0,)], table
    everywhere = sql(world, "SELECT concat_ws(' ', (SELECT string_agg(d::text, ' ') FROM "
                     "directory_audit d), (SELECT string_agg(a::text, ' ') FROM alert_audit a), "
                     "(SELECT string_agg(a::text, ' ') FROM alerts a), (SELECT string_agg(v::text, "
                     "' ') FROM visits v), (SELECT string_agg(t::text, ' ') FROM visit_tasks t), "
                     "(SELECT string_agg(c::text, ' ') FROM care_calls c))")[0][0]
    for secret in ("王秀英", "13800000001", "头晕", "搬去女儿家"):
        assert secret not in everywhere, secret
    assert sql(world, "SELECT actor, action FROM directory_audit WHERE entity = 'resident' AND "
               "entity_id = %s AND action = 'erase'", world.resident) == [
        (staff.admin.display_name, "erase")]
    # the audit trails stay append-only outside an erasure
    with world.connect() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE directory_audit SET note = 'x'")


def test_the_retention_job_honours_the_setting(world: World) -> None:
    with world.connect() as conn:
        for days in (200, 100):
            conn.execute("INSERT INTO access_log (ts, user_name, role, purpose) VALUES "
                         "(now() - %s, 'Alice', 'operator', 'alert')", (timedelta(days=days),))
    db = Db(world.schema.conninfo)
    try:
        asyncio.run(AccessLogRetention(db, timedelta(days=400))())
        assert len(log_rows(world)) == 2  # both younger than 400 days
        asyncio.run(AccessLogRetention(db, timedelta(days=190))())
        assert [r["purpose"] for r in log_rows(world)] == ["alert"]
    finally:
        db.close()
