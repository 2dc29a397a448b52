"""User management over the API: create, edit, deactivate (sessions end at once, the live feed
too), one-time reset codes, one's own password and sessions, the last admin, the password
policy, and the audit trail of it all."""

from __future__ import annotations

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from server.alerts.model import Role
from server.auth.policy import problem
from server.directory import users as accounts
from server.errors import Conflict
from tests.fixtures.staff import Staff, bearer
from tests.fixtures.waiting import eventually_sync
from tests.fixtures.world import PASSWORD, World

NEW = "Harbour lights 42"


@pytest.fixture
def ada(world: World, staff: Staff) -> dict[str, str]:
    return bearer(world, staff.admin)


def login(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    r = client.post("/api/auth/login", json={"username": username, "password": password})
    client.cookies.clear()
    return r


def token(r: Any) -> dict[str, str]:
    assert r.status_code == 200, r.text
    return {"authorization": f"Bearer {r.json()['token']}"}


def detail(r: Any) -> dict[str, Any]:
    (found,) = r.json()["error"]["details"]
    assert isinstance(found, dict)
    return found


def actions(client: TestClient, headers: dict[str, str], **params: Any) -> list[str]:
    return [a["action"] for a in client.get("/api/audit/users", headers=headers,
                                            params=params).json()]


def test_an_admin_creates_and_edits_a_user(client: TestClient, world: World, ada: dict[str, str],
                                           staff: Staff) -> None:
    body = {"username": "xiaowei", "display_name": "小魏", "role": "operator", "password": NEW,
            "regions": [world.community]}
    r = client.post("/api/users", headers=bearer(world, world.supervisor), json=body)
    assert r.status_code == 403, "admins only"
    r = client.post("/api/users", headers=ada, json={**body, "password": "XiaoWei-2024-pw"})
    assert (r.status_code, detail(r)["type"], detail(r)["field"]) == (
        422, "password_has_username", "password")
    user_id = client.post("/api/users", headers=ada, json=body).json()["id"]
    wei = token(login(client, "xiaowei", NEW))
    assert client.get("/api/auth/me", headers=wei).json()["regions"] == [world.community]

    r = client.patch(f"/api/users/{user_id}", headers=ada,
                     json={"role": "supervisor", "regions": [], "display_name": "魏班长"})
    assert r.status_code == 200
    assert (r.json()["role"], r.json()["regions"], r.json()["sessions"]) == ("supervisor", [], 1)
    me = client.get("/api/auth/me", headers=wei).json()
    assert (me["role"], me["regions"]) == ("supervisor", []), "at once, in the same session"
    assert client.patch(f"/api/users/{user_id}", headers=ada,
                        json={"regions": [999999]}).status_code == 404
    assert client.patch(f"/api/users/{user_id}", headers=ada,
                        json={"role": "system"}).status_code == 422
    assert client.patch(f"/api/users/{user_id}", headers=ada,
                        json={"password": NEW}).status_code == 422, "not a field to patch"
    assert client.patch("/api/users/999999", headers=ada, json={}).status_code == 404

    trail = client.get("/api/audit/users", headers=bearer(world, staff.auditor),
                       params={"user_id": user_id}).json()
    assert [(a["action"], a["actor"]) for a in trail] == [("update", "Ada"), ("create", "Ada")]
    assert trail[0]["data"] == {"display_name": ["小魏", "魏班长"], "role": ["operator",
                                "supervisor"], "regions": [[world.community], []]}
    assert trail[1]["data"]["role"] == "operator"
    assert "password" not in trail[1]["data"]
    assert client.get("/api/audit/users", headers=wei).status_code == 403


def test_deactivation_ends_every_session_at_once(client: TestClient, world: World,
                                                 ada: dict[str, str]) -> None:
    alice = token(login(client, "alice"))
    other = token(login(client, "alice"))
    feed = client.websocket_connect(f"/api/live?token={alice['authorization'][7:]}")
    with feed as ws:
        assert ws.receive_json()["type"] == "hello"
        r = client.post(f"/api/users/{world.operator.id}/deactivate", headers=ada)
        assert (r.status_code, r.json()["active"], r.json()["sessions"]) == (200, False, 0)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()  # the wake-up, not the 15 s keepalive: a ping would fail here
        assert closed.value.code == 4401
    assert client.get("/api/auth/me", headers=alice).status_code == 401
    assert client.get("/api/auth/me", headers=other).status_code == 401
    assert login(client, "alice").status_code == 401

    assert client.post(f"/api/users/{world.operator.id}/activate",
                       headers=ada).json()["active"] is True
    assert client.get("/api/auth/me", headers=alice).status_code == 401, "ended for good"
    token(login(client, "alice"))
    assert actions(client, ada, user_id=world.operator.id) == ["activate", "deactivate"]


def test_a_reset_code_works_once_and_expires(client: TestClient, world: World, staff: Staff,
                                             ada: dict[str, str]) -> None:
    alice = token(login(client, "alice"))
    r = client.post(f"/api/users/{world.operator.id}/reset", headers=ada)
    assert r.status_code == 200
    code = r.json()["code"]
    assert (len(code), code.count("-")) == (14, 2)
    assert client.get("/api/auth/me", headers=alice).status_code == 401, "sessions ended"
    assert login(client, "alice").status_code == 401, "and the old password"

    def reset(password: str, username: str = "alice", using: str = code) -> Any:
        return client.post("/api/auth/reset", json={"username": username, "code": using,
                                                     "new_password": password})

    r = reset("short")
    assert (r.status_code, detail(r)["type"], detail(r)["field"]) == (
        422, "password_too_short", "new_password")
    assert reset("password2024!!").json()["error"]["details"][0]["type"] == \
        "password_too_common"
    assert reset(NEW, username="bob").status_code == 401, "another user's code"
    r = client.post("/api/auth/reset", json={"username": "alice", "code": code.lower()
                                             .replace("-", " "), "new_password": NEW})
    assert r.status_code == 200, "any case, any separators; and a refused password kept it"
    assert r.json()["user"]["username"] == "alice"
    assert client.get("/api/auth/me", headers=token(r)).status_code == 200
    assert reset("Another one 43").status_code == 401, "used"
    token(login(client, "alice", NEW))

    first = client.post(f"/api/users/{world.operator.id}/reset", headers=ada).json()["code"]
    second = client.post(f"/api/users/{world.operator.id}/reset", headers=ada).json()["code"]
    assert reset("Another one 43", using=first).status_code == 401, "replaced by a newer one"
    with world.connect() as conn:
        conn.execute("UPDATE password_resets SET expires_at = now() - interval '1 second'")
    assert reset("Another one 43", using=second).status_code == 401, "expired"
    r = client.post(f"/api/users/{staff.admin.id}/reset", headers=ada)
    assert r.status_code == 409, "one's own: a password change, not a reset"
    assert actions(client, ada, user_id=world.operator.id) == [
        "reset_issued", "reset_issued", "reset_used", "reset_issued"]


def test_two_uses_of_one_code_at_once_one_wins(client: TestClient, world: World,
                                               ada: dict[str, str]) -> None:
    code = client.post(f"/api/users/{world.operator.id}/reset", headers=ada).json()["code"]

    def use(password: str) -> int:
        return client.post("/api/auth/reset", json={"username": "alice", "code": code,
                                                     "new_password": password}).status_code

    tries = 5  # the account's free failures: none of them waits for the throttle
    with ThreadPoolExecutor(tries) as pool:
        answers = Counter(pool.map(use, [f"Harbour lights {n}x" for n in range(tries)]))
    assert answers == {200: 1, 401: tries - 1}


def test_changing_ones_own_password(client: TestClient, world: World,
                                    ada: dict[str, str]) -> None:
    here, there = token(login(client, "alice")), token(login(client, "alice"))

    def change(current: str, new: str) -> Any:
        return client.post("/api/auth/password", headers=here,
                           json={"current_password": current, "new_password": new})

    r = change("not my password", NEW)
    assert (r.status_code, detail(r)["field"]) == (422, "current_password")
    r = change(PASSWORD, "alice-in-wonderland")
    assert (r.status_code, detail(r)["type"]) == (422, "password_has_username")
    assert change(PASSWORD, PASSWORD).status_code == 422
    assert change(PASSWORD, NEW).status_code == 204
    assert client.get("/api/auth/me", headers=here).status_code == 200, "this session stays"
    assert client.get("/api/auth/me", headers=there).status_code == 401, "the others end"
    token(login(client, "alice", NEW))
    (row,) = client.get("/api/audit/users", headers=ada,
                        params={"user_id": world.operator.id}).json()
    assert (row["action"], row["actor"], row["data"]) == (
        "password_changed", "Alice", {"sessions_ended": 1})


def test_sessions_are_listed_and_ended(client: TestClient, world: World,
                                       ada: dict[str, str]) -> None:
    here = token(login(client, "alice"))
    client.headers["user-agent"] = "Other browser"
    there = token(login(client, "alice"))
    del client.headers["user-agent"]
    mine = client.get("/api/auth/sessions", headers=here).json()
    assert [(s["current"], s["user_agent"]) for s in mine] == [(True, "testclient"),
                                                               (False, "Other browser")]
    assert client.delete(f"/api/auth/sessions/{mine[1]['id']}", headers=here).status_code == 204
    assert client.get("/api/auth/me", headers=there).status_code == 401

    sams = token(login(client, "sam"))
    sam_session = client.get("/api/auth/sessions", headers=sams).json()[0]["id"]
    assert client.delete(f"/api/auth/sessions/{sam_session}", headers=here).status_code == 404
    assert client.get("/api/sessions", headers=here).status_code == 403
    everyone = client.get("/api/sessions", headers=ada).json()
    assert {"alice", "sam", "ada"} <= {s["username"] for s in everyone}
    assert "token_hash" not in everyone[0]
    assert client.delete(f"/api/sessions/{sam_session}", headers=ada).status_code == 204
    assert client.get("/api/auth/me", headers=sams).status_code == 401
    assert client.delete(f"/api/users/{world.operator.id}/sessions",
                         headers=ada).json() == {"ended": 1}
    assert client.get("/api/auth/me", headers=here).status_code == 401
    assert actions(client, ada)[:3] == ["sessions_ended", "session_ended", "session_ended"]


def test_the_last_admin_stays_an_admin(client: TestClient, world: World, staff: Staff,
                                       ada: dict[str, str]) -> None:
    me = staff.admin.id
    r = client.post(f"/api/users/{me}/deactivate", headers=ada)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "conflict")
    assert "last active admin" in r.json()["error"]["message"]
    assert client.patch(f"/api/users/{me}", headers=ada,
                        json={"role": "operator"}).status_code == 409
    assert client.patch(f"/api/users/{me}", headers=ada,
                        json={"role": "admin", "display_name": "Ada L."}).status_code == 200
    assert client.patch(f"/api/users/{world.supervisor.id}", headers=ada,
                        json={"role": "admin"}).status_code == 200
    r = client.patch(f"/api/users/{me}", headers=ada, json={"role": "auditor"})
    assert r.status_code == 200, "another admin exists now"
    assert client.get("/api/users", headers=ada).status_code == 403, "an auditor now"
    sam = bearer(world, world.supervisor)
    assert client.post(f"/api/users/{world.supervisor.id}/deactivate",
                       headers=sam).status_code == 409


def test_two_admins_removing_each_other_at_once_leave_one(world: World, staff: Staff) -> None:
    with world.connect() as conn:
        accounts.update_user(conn, world.supervisor.id, accounts.UserChange(role=Role.ADMIN),
                             staff.admin.actor)
    name = f"demote-{uuid.uuid4().hex[:8]}"

    def demote(target: int, actor: Any) -> str:
        with world.connect(application_name=name) as conn:
            try:
                accounts.set_active(conn, target, False, actor)
            except Conflict:
                return "refused"
            return "done"

    def both_waiting() -> bool:
        with world.connect() as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                               "%s AND wait_event_type = 'Lock'", (name,)).fetchone()
            return row == (2,)

    with world.connect() as holder, holder.transaction():  # both wait behind this lock …
        holder.execute("SELECT id FROM users WHERE role = 'admin' FOR UPDATE")
        pool = ThreadPoolExecutor(2)
        results = [pool.submit(demote, world.supervisor.id, staff.admin.actor),
                   pool.submit(demote, staff.admin.id, world.supervisor.actor)]
        eventually_sync(both_waiting, 15, "both to wait for the admins' lock", every=0.02)
    # … and go on together once it is released
    pool.shutdown()
    assert sorted(f.result() for f in results) == ["done", "refused"]
    with world.connect() as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE role = 'admin' AND active"
                            ).fetchone() == (1,)


def test_the_audit_trail_is_append_only(client: TestClient, world: World, staff: Staff,
                                        ada: dict[str, str]) -> None:
    client.post(f"/api/users/{world.operator.id}/deactivate", headers=ada)
    with world.connect() as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute("UPDATE user_audit SET actor = 'someone else'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute("DELETE FROM user_audit")
    auditor = bearer(world, staff.auditor)
    (row,) = client.get("/api/audit/users", headers=auditor).json()
    assert (row["actor"], row["action"], row["target"], row["client"]) == (
        "Ada", "deactivate", "alice", "testclient")
    for who in (world.operator2, world.supervisor, staff.technician):
        assert client.get("/api/audit/users", headers=bearer(world, who)).status_code == 403


@pytest.mark.parametrize(("password", "kind"), [
    ("short", "password_too_short"),
    ("x" * 201, "password_too_long"),
    ("wang-alice-2024", "password_has_username"),
    ("ALICE1234567", "password_has_username"),
    ("1234567890", "password_too_common"),
    ("Password123!", "password_too_common"),
    ("woaini1314520", "password_too_common"),
    ("qwertyuiop", "password_too_common"),
    ("abababababab", "password_too_common"),
    ("pass\x00word-long", "password_characters"),
    ("Harbour lights 42", None),
    ("平安铃值班用的密码口令", None),
])
def test_the_password_policy(password: str, kind: str | None) -> None:
    found = problem(password, "alice")
    assert (found[0] if found else None) == kind
