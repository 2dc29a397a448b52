"""Every route of the app, called by every kind of caller, answers what ``route_matrix.MATRIX``
says; a route without an entry (or an entry without a route) fails, printing the lines to paste.

How a request is made: each caller has a fresh session (opened directly, no password check);
path parameters are fresh rows (``PARAMS``: a new open P1 alert of the operator's community for
``{alert_id}``, a new account for ``{user_id}``, …; a parameter not named there gets an id no
row has); the body is ``BODIES``'s for the route, else ``{}`` when the route takes one (then a
422 means "let in, the body refused"). WebSocket routes answer 101 (accepted) or their close
code.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastapi.routing
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocketDisconnect

from kernel.contract import Topics
from kernel.services.broker import BrokerAddress
from server.alerts import machine, service
from server.alerts.model import AlertType, DispatchKind, NewAlert, Priority
from server.app import create_app
from server.auth.sessions import open_session, session_id
from server.auth.users import User
from server.directory import CareTag
from server.scope import ALL
from server.settings import Settings
from tests.fixtures.access import secured
from tests.fixtures.staff import Staff
from tests.fixtures.world import GATEWAY, PASSWORD, World
from tests.integration.route_matrix import CALLERS, MATRIX, Expect

NEW_PASSWORD = "Harbour lights 42"
ROUTE_MATRIX = Path(__file__).with_name("route_matrix.py")
NOWHERE = 2**62  # an id no row has
_n = itertools.count(1)


@dataclass
class Call:
    """What a factory may use: the world, its staff, and who is calling (None: nobody)."""

    world: World
    staff: Staff
    caller: User | None
    params: dict[str, Any]
    client: TestClient

    def sql(self, query: str, *args: Any) -> Any:
        with self.world.connect() as conn:
            return conn.execute(query, args).fetchone()


def _alert(c: Call) -> int:
    """A new open P1 panic alert at the world's home (the operator's community)."""
    w, n = c.world, next(_n)
    with w.connect() as conn:
        alert = machine.open_alert(conn, NewAlert(
            AlertType.PANIC, Priority.P1, f"matrix:{n}", f"matrix {n}", w.community, w.home,
            w.resident, GATEWAY))
    assert alert is not None
    return alert.id


def _dispatch(c: Call) -> int:
    """A dispatch of ``{alert_id}``, which a supervisor claimed and dispatched."""
    sam = c.world.supervisor.actor
    with c.world.connect() as conn:
        service.claim(conn, sam, c.params["alert_id"], scope=ALL)
        done = service.dispatch(conn, sam, c.params["alert_id"], DispatchKind.CONTACT,
                                scope=ALL)
    return done.dispatch_id


def _account(c: Call) -> int:
    """A new operator account of the world's community (no usable password)."""
    row = c.sql("INSERT INTO users (username, display_name, password_hash, role) VALUES "
                "(%s, 'Matrix', 'x', 'operator') RETURNING id", f"matrix{next(_n)}")
    c.sql("INSERT INTO user_regions VALUES (%s, %s) RETURNING user_id", row[0],
          c.world.community)
    return int(row[0])


def _session(c: Call) -> int | None:
    """A new session of the caller (of the operator, for nobody)."""
    with c.world.connect() as conn:
        return session_id(conn, open_session(conn, c.caller or c.world.operator, "matrix"))


def _registration(c: Call) -> dict[str, Any]:
    """A new gateway registered at the world's home by the supervisor: its broker identity and
    claim code, as ``POST /api/enrol/gateways`` answers."""
    with c.world.connect() as conn:
        token = open_session(conn, c.world.supervisor, "matrix")
    r = c.client.post("/api/enrol/gateways", headers={"authorization": f"Bearer {token}"},
                      json={"gateway_id": f"gw-matrix-{next(_n)}", "home_id": c.world.home})
    assert r.status_code == 201, r.text
    found: dict[str, Any] = r.json()
    return found


def _gateway(c: Call) -> str:
    """A new gateway at the world's home, registered (a broker identity and a claim code)."""
    return str(_registration(c)["gateway"]["gateway_id"])


def _lockout(c: Call) -> str:
    """An account name with failed sign-ins (``{kind}`` is ``account``)."""
    name = f"guess{next(_n)}"
    c.sql("INSERT INTO login_throttle (kind, subject, failures, last_failure) VALUES "
          "('account', %s, 3, now()) RETURNING 1", name)
    return name


def _contact(c: Call) -> int:
    """A new contact on the world's resident's call list."""
    row = c.sql("INSERT INTO contacts (resident_id, name, phones, call_order) VALUES "
                "(%s, '李明', ARRAY['13900000000'], (SELECT coalesce(max(call_order), 0) + 1 "
                "FROM contacts WHERE resident_id = %s)) RETURNING id",
                c.world.resident, c.world.resident)
    return int(row[0])


_TAG_SETS = itertools.combinations([t.value for t in CareTag], 3)  # each rule's own set


def _rule(c: Call) -> int:
    """A new care rule (for three tags no rule has yet)."""
    row = c.sql("INSERT INTO care_rules (tags, call_every_days) VALUES (%s, 5) RETURNING id",
                list(next(_TAG_SETS)))
    return int(row[0])


def _visit_task(c: Call) -> int:
    """A new open visit task for the world's resident."""
    row = c.sql("INSERT INTO visit_tasks (resident_id, kind, month, due_on) VALUES "
                "(%s, 'manual', date_trunc('month', now())::date, now()::date) RETURNING id",
                c.world.resident)
    return int(row[0])


def _work_order(c: Call) -> int:
    """A new open work order for a fresh device at the world's gateway."""
    uid = f"rf-wo{next(_n):06x}"
    c.sql("INSERT INTO devices (uid, gateway_id, model) VALUES (%s, %s, 'PB-433') RETURNING 1",
          uid, GATEWAY)
    row = c.sql("INSERT INTO work_orders (device, gateway_id, reason, due_at) VALUES "
                "(%s, %s, 'device_silent', now()) RETURNING id", uid, GATEWAY)
    return int(row[0])


def _scope_in_force(c: Call) -> str:
    """``share_medical``, in force for the world's resident (granted again if withdrawn)."""
    c.sql("INSERT INTO consents (resident_id, scope, granted_by, granted_by_name) VALUES "
          "(%s, 'share_medical', 'resident', '王秀英') ON CONFLICT DO NOTHING RETURNING id",
          c.world.resident)
    return "share_medical"


def _inform_task(c: Call) -> int:
    """A new open inform-afterwards task about the world's resident."""
    row = c.sql("INSERT INTO inform_tasks (resident_id, scope, user_name) VALUES "
                "(%s, 'share_family', 'Alice') RETURNING id", c.world.resident)
    return int(row[0])


def _consent_body(c: Call) -> dict[str, Any]:
    """A grant of ``activity_sensing`` (withdrawn first, so it can be granted again)."""
    c.sql("UPDATE consents SET withdrawn_at = now(), withdrawn_by = 'matrix' WHERE "
          "resident_id = %s AND scope = 'activity_sensing' AND withdrawn_at IS NULL "
          "RETURNING id", c.world.resident)
    return {"scope": "activity_sensing", "granted_by": "guardian",
            "granted_by_name": "王强", "document": "协议 2026-001"}


# Path parameter -> a fresh value for one request (made in path order: {alert_id} first).
PARAMS: dict[str, Callable[[Call], Any]] = {
    "alert_id": _alert,
    "dispatch_id": _dispatch,
    "resident_id": lambda c: c.world.resident,
    "home_id": lambda c: c.world.home,
    "contact_id": lambda c: _contact(c),
    "user_id": _account,
    "session_id": _session,
    "gateway_id": _gateway,
    "kind": lambda c: "account",
    "subject": _lockout,
    "rule_id": _rule,
    "visit_task_id": _visit_task,
    "order_id": _work_order,
    "scope": _scope_in_force,
    "task_id": _inform_task,
}

# (method, path) -> a valid body for one request (routes not here that take one get {}).
BODIES: dict[tuple[str, str], Callable[[Call], dict[str, Any]]] = {
    ("POST", "/api/auth/login"): lambda c: {"username": "alice", "password": PASSWORD},
    ("POST", "/api/auth/reset"): lambda c: {"username": f"nobody{next(_n)}",
                                            "code": "AAAA-BBBB-CCCC",
                                            "new_password": NEW_PASSWORD},
    ("POST", "/api/auth/password"): lambda c: {"current_password": "not it",
                                               "new_password": NEW_PASSWORD},
    ("POST", "/api/alerts/{alert_id}/notes"): lambda c: {"text": "matrix"},
    ("POST", "/api/alerts/{alert_id}/calls"): lambda c: {"outcome": "answered"},
    ("POST", "/api/alerts/{alert_id}/dispatches"): lambda c: {"kind": "ambulance"},
    ("PATCH", "/api/alerts/{alert_id}/dispatches/{dispatch_id}"): lambda c: {
        "status": "arrived"},
    ("POST", "/api/alerts/{alert_id}/resolve"): lambda c: {"outcome": "genuine"},
    ("POST", "/api/regions"): lambda c: {"name": f"社区{next(_n)}", "level": "社区",
                                         "parent_id": c.world.street},
    ("POST", "/api/homes"): lambda c: {"region_id": c.world.community, "address": "幸福路 9 号"},
    ("POST", "/api/residents"): lambda c: {"home_id": c.world.home, "name": "李桂芳"},
    ("POST", "/api/contacts"): lambda c: {"resident_id": c.world.resident, "name": "李明",
                                          "phones": ["13900000000"]},
    ("PATCH", "/api/contacts/{contact_id}"): lambda c: {"relation": "侄子"},
    ("PATCH", "/api/homes/{home_id}"): lambda c: {"notes": "门铃坏了，请敲门"},
    ("PATCH", "/api/residents/{resident_id}"): lambda c: {"phone": "021-5555 0000"},
    ("PUT", "/api/residents/{resident_id}/status"): lambda c: {"status": "active"},
    ("PUT", "/api/residents/{resident_id}/limits"): lambda c: {},
    ("POST", "/api/alerts/phone-in"): lambda c: {"caller": "王强", "reason": "母亲电话不通",
                                                 "resident_id": c.world.resident,
                                                 "take": False},
    ("POST", "/api/gateways"): lambda c: {"id": f"gw-matrix-{next(_n)}",
                                          "home_id": c.world.home},
    ("POST", "/api/enrol/gateways"): lambda c: {"gateway_id": f"gw-enrol-{next(_n)}",
                                                "home_id": c.world.home},
    ("POST", "/api/enrol/claim"): lambda c: {"code": _registration(c)["claim_code"]},
    ("POST", "/api/devices"): lambda c: {"uid": f"rf-{next(_n):08x}", "gateway_id": GATEWAY,
                                         "model": "PB-433"},
    ("POST", "/api/users"): lambda c: {"username": f"new{next(_n)}", "display_name": "New",
                                       "role": "operator", "password": NEW_PASSWORD},
    ("PATCH", "/api/users/{user_id}"): lambda c: {"display_name": "Renamed"},
    ("POST", "/api/care-rules"): lambda c: {"tags": list(next(_TAG_SETS)),
                                            "visit_every_days": 30},
    ("PUT", "/api/care-rules/{rule_id}"): lambda c: {"tags": list(next(_TAG_SETS)),
                                                     "call_every_days": 3},
    ("POST", "/api/visits"): lambda c: {"resident_id": c.world.resident, "at_home": True},
    ("PUT", "/api/visits/tasks/{visit_task_id}/assignee"): lambda c: {"user_id": None},
    ("POST", "/api/care-calls"): lambda c: {"resident_id": c.world.resident, "outcome": "well"},
    ("POST", "/api/care-calls/campaigns"): lambda c: {"name": "寒潮关爱", "reason": "cold"},
    ("POST", "/api/maintenance/gateways/{gateway_id}/commands"): lambda c: {"op": "status"},
    ("POST", "/api/maintenance/tests"): lambda c: {"gateway_id": GATEWAY},
    ("POST", "/api/maintenance/work-orders/{order_id}/close"): lambda c: {"note": "replaced"},
    ("POST", "/api/residents/{resident_id}/consents"): _consent_body,
    ("POST", "/api/residents/{resident_id}/consents/{scope}/withdraw"): lambda c: {
        "withdrawn_by": "王秀英"},
    ("POST", "/api/alerts/{alert_id}/override"): lambda c: {"reason": "无人接听"},
    ("POST", "/api/inform-tasks/{task_id}/close"): lambda c: {"note": "已电话告知"},
}


def routes(app: Any) -> dict[tuple[str, str], Any]:
    """(method, path) of every route the app serves: HTTP methods (not HEAD), "WS" for
    WebSockets, GET of a mount's root."""
    # FastAPI >= 0.165 keeps included routers whole in app.routes: iterate their routes
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    found: dict[tuple[str, str], Any] = {}
    for entry in contexts(app.routes) if contexts else app.routes:
        route, path = getattr(entry, "original_route", entry), entry.path
        if isinstance(route, WebSocketRoute):
            found["WS", path] = route
        elif isinstance(route, Mount):
            found["GET", path + "/"] = route
        elif isinstance(route, Route):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                found[method, path] = route
    return found


@pytest.fixture
def client(world: World, staff: Staff, mqtt_broker: BrokerAddress, mqtt_admin: BrokerAddress,
           topics: Topics) -> Iterator[TestClient]:
    settings = Settings(database_url=world.schema.conninfo, mqtt_host=mqtt_broker.host,
                        mqtt_port=mqtt_broker.port, mqtt_root=topics.root, detectors=False,
                        **secured(mqtt_admin, topics))
    with TestClient(create_app(settings, ingest=False), follow_redirects=False) as c:
        yield c


def callers(world: World, staff: Staff) -> dict[str, User | None]:
    """The matrix's columns, in order: who calls."""
    found = {"anonymous": None, "operator": world.operator, "supervisor": world.supervisor,
             "technician": staff.technician, "admin": staff.admin, "auditor": staff.auditor,
             "other_region": world.outsider}
    assert tuple(found) == CALLERS
    return found


def status(client: TestClient, world: World, staff: Staff, key: tuple[str, str], route: Any,
           caller: User | None) -> int:
    """The status ``caller`` gets for one fresh request to ``route``."""
    method, template = key
    call = Call(world, staff, caller, {}, client)
    path = template
    for name in _path_params(template):
        make = PARAMS.get(name)
        call.params[name] = make(call) if make else _nowhere(route, name)
        path = path.replace(f"{{{name}}}", str(call.params[name]))
    headers = {}
    if caller is not None:
        with world.connect() as conn:
            headers["authorization"] = f"Bearer {open_session(conn, caller, 'caller')}"
    if method == "WS":
        return _websocket(client, path, headers)
    body = BODIES[key](call) if key in BODIES else {} if _takes_body(route) else None
    r = client.request(method, path, headers=headers, json=body)
    client.cookies.clear()
    return r.status_code


def _path_params(template: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in template.split("/")
            if part.startswith("{") and part.endswith("}")]


def _nowhere(route: Any, name: str) -> Any:
    if isinstance(route, APIRoute):
        for param in route.dependant.path_params:
            if param.name == name and param.field_info.annotation is int:
                return NOWHERE
    return f"nowhere{next(_n)}"


def _takes_body(route: Any) -> bool:
    return isinstance(route, APIRoute) and route.body_field is not None


def _websocket(client: TestClient, path: str, headers: dict[str, str]) -> int:
    token = headers.get("authorization", "")[7:]
    try:
        with client.websocket_connect(f"{path}?token={token}" if token else path) as ws:
            ws.receive_json()
            return 101
    except WebSocketDisconnect as closed:
        return closed.code


def _entry(key: tuple[str, str], observed: Expect) -> str:
    method, path = key
    return f'    ("{method}", "{path}"):'.ljust(56) + f" E{tuple(observed)!r},"


def compare(observed: dict[tuple[str, str], Expect],
            matrix: dict[tuple[str, str], Expect]) -> str:
    """What differs between the statuses observed per route and the matrix, in words ("" when
    nothing): routes without an entry (as lines to paste), wrong statuses, stale entries."""
    missing = [_entry(key, seen) for key, seen in observed.items() if key not in matrix]
    wrong = [f"{key}:\n    expected {matrix[key]}\n    observed {seen}"
             for key, seen in observed.items() if key in matrix and seen != matrix[key]]
    stale = [repr(key) for key in matrix if key not in observed]
    report = []
    if missing:
        report.append("routes without an entry in tests/integration/route_matrix.py (observed "
                      "statuses; check each before pasting it into MATRIX):\n"
                      + "\n".join(missing))
    if wrong:
        report.append("routes answering otherwise than the matrix says:\n" + "\n".join(wrong))
    if stale:
        report.append("entries without a route (remove them):\n" + "\n".join(stale))
    return "\n\n".join(report)


@pytest.mark.slow
def test_every_route_answers_every_caller_as_the_matrix_says(
        client: TestClient, world: World, staff: Staff) -> None:
    who = callers(world, staff)
    observed = {key: Expect(*(status(client, world, staff, key, route, caller)
                              for caller in who.values()))
                for key, route in sorted(routes(client.app).items())}
    problems = compare(observed, MATRIX)
    assert not problems, problems


def test_a_route_without_an_entry_is_reported_ready_to_paste() -> None:
    seen = Expect(401, 200, 200, 403, 200, 403, 404)
    observed = {("GET", "/api/alerts/queue"): MATRIX["GET", "/api/alerts/queue"],
                ("POST", "/api/devices/{uid}/test"): seen}
    report = compare(observed, {("GET", "/api/alerts/queue"): MATRIX["GET", "/api/alerts/queue"],
                                ("GET", "/api/gone"): seen})
    line = '    ("POST", "/api/devices/{uid}/test"):                 E(401, 200, 200, 403, 200, ' \
           '403, 404),'
    assert line.index("E(") == ROUTE_MATRIX.read_text().splitlines()[-2].index("E("), \
        "aligned with the file's lines"
    assert line in report.splitlines()
    assert "entries without a route (remove them):\n('GET', '/api/gone')" in report
    pasted = eval("{" + line + "}", {"E": Expect})  # what pasting it into MATRIX gives
    assert pasted == {("POST", "/api/devices/{uid}/test"): seen}
    assert compare(observed, {("GET", "/api/alerts/queue"): MATRIX["GET", "/api/alerts/queue"],
                              **pasted}) == ""
