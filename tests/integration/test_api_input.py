"""Bad input is a 4xx, never a 500: one test per class of input that used to be a 500.

NUL and other characters PostgreSQL cannot store, integers beyond bigint, unknown references,
bodies over the size limit (declared or streamed), odd credentials, and a database refusal
that gets past validation; each answered in the one error format, naming the field.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from kernel.contract import EventType, Topics
from kernel.services.broker import BrokerAddress
from server.alerts import engine
from server.alerts.model import Role
from server.api.deps import Db
from server.api.errors import counters
from server.app import create_app
from server.auth.users import create_user
from server.settings import Settings
from server.store import BackendChoice, insert_events
from tests.fixtures.broker import server_broker
from tests.fixtures.database import new_schema
from tests.fixtures.ingest import make_event
from tests.fixtures.stack import running_stack
from tests.fixtures.world import BUTTON, GATEWAY, PASSWORD, World, build_world

BIG = 2**63  # one past the largest bigint
TOPICS = Topics(f"t-{uuid.uuid4().hex[:12]}/v1")


@pytest.fixture(scope="module")
def world(database_url: str) -> Iterator[World]:
    """One world for this module: its tests only read, or write nothing but refused requests."""
    with contextlib.contextmanager(new_schema)(database_url, BackendChoice.AUTO) as schema, \
            schema.connect(autocommit=True) as conn:
        world = build_world(conn, schema)
        create_user(conn, "root", "Root", Role.ADMIN, PASSWORD)
        yield world


def make_app(world: World, broker: BrokerAddress, **settings: Any) -> FastAPI:
    return create_app(Settings(database_url=world.schema.conninfo, **server_broker(broker),
                               mqtt_root=TOPICS.root, detectors=False,
                               **settings), ingest=False)


@pytest.fixture(scope="module")
def client(world: World, mqtt_broker: BrokerAddress) -> Iterator[TestClient]:
    with TestClient(make_app(world, mqtt_broker)) as c:
        yield c


@pytest.fixture(scope="module")
def admin(client: TestClient) -> dict[str, str]:
    """Headers of a signed-in admin (may do everything)."""
    return sign_in(client, "root")


@pytest.fixture(scope="module")
def alert_id(world: World) -> int:
    """An open alert at the world's home."""
    event = make_event(GATEWAY, 1, EventType.PRESS, BUTTON)
    with world.connect() as conn, conn.transaction():
        insert_events(conn, [event], time.time())
        return engine.on_events(conn, [event])[0]


def sign_in(client: TestClient, username: str) -> dict[str, str]:
    r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return {"authorization": f"Bearer {r.json()['token']}"}


def refused(r: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """Assert the status and the one error format (naming ``field`` when given)."""
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()["error"]
    assert set(body) >= {"code", "message", "details"}
    if field is not None:
        assert field in [d["field"] for d in body["details"]], body
    return body


# --- characters PostgreSQL cannot store -------------------------------------------------------

@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/alerts/{alert}/notes", {"text": "摔倒\x00了"}, "text"),
    ("/api/alerts/{alert}/calls", {"outcome": "answered", "note": "\x00"}, "note"),
    ("/api/alerts/{alert}/dispatches", {"kind": "ambulance", "target": "\ufffe"}, "target"),
    ("/api/residents", {"home_id": "{home}", "name": "王\x00"}, "name"),
    ("/api/residents", {"home_id": "{home}", "name": "王", "conditions": ["\x00"]},
     "conditions.0"),
    ("/api/homes", {"region_id": "{region}", "address": "幸福路", "notes": "a\U0010ffffb"},
     "notes"),
    ("/api/users", {"username": "zed", "display_name": "Z\x00", "role": "operator",
                    "password": "long enough password"}, "display_name"),
    ("/api/users", {"username": "zed", "display_name": "Z", "role": "operator",
                    "password": "long enough\x00password"}, "password"),
])
def test_nul_and_non_characters_in_body_text_are_422(client: TestClient, world: World,
                                                     admin: dict[str, str], alert_id: int,
                                                     path: str, body: dict[str, Any],
                                                     field: str) -> None:
    ids = {"{home}": world.home, "{region}": world.community}
    body = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    r = client.post(path.format(alert=alert_id), json=body, headers=admin)
    refused(r, 422, field)


def test_a_lone_surrogate_escape_in_json_is_422(client: TestClient, alert_id: int) -> None:
    r = client.post(f"/api/alerts/{alert_id}/notes", headers={
        **sign_in(client, "alice"), "content-type": "application/json"},
        content=b'{"text": "\\ud800"}')
    refused(r, 422, "text")


@pytest.mark.parametrize(("path", "field"), [
    ("/api/alerts?q=%E7%8E%8B%00", "query.q"),
    ("/api/alerts?type=pan%00ic", "query.type"),
    ("/api/residents?q=%00", "query.q"),
    ("/api/alerts/1%00", "path.alert_id"),
])
def test_nul_in_query_or_path_is_422(client: TestClient, path: str, field: str) -> None:
    refused(client.get(path, headers=sign_in(client, "alice")), 422, field)


# --- integers beyond bigint, times beyond reason -----------------------------------------------

@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("GET", f"/api/alerts/{BIG}", None, "path.alert_id"),
    ("POST", f"/api/alerts/{BIG}/claim", None, "path.alert_id"),
    ("PATCH", f"/api/alerts/1/dispatches/{BIG}", {"status": "arrived"}, "path.dispatch_id"),
    ("GET", f"/api/residents/{BIG}", None, "path.resident_id"),
    ("GET", f"/api/residents/{BIG}/vitals", None, "path.resident_id"),
    ("GET", f"/api/alerts?before_id={BIG}", None, "query.before_id"),
    ("GET", f"/api/alerts?before_id={-BIG * 4}", None, "query.before_id"),
    ("GET", "/api/alerts/0", None, "path.alert_id"),
    ("POST", "/api/homes", {"region_id": BIG, "address": "x"}, "region_id"),
    ("POST", "/api/residents", {"home_id": BIG * 2**70, "name": "x"}, "home_id"),
    ("POST", "/api/contacts", {"resident_id": 1, "name": "x", "phones": ["123"],
                               "call_order": 2**15}, "call_order"),
    ("POST", "/api/alerts/1/calls", {"outcome": "busy", "contact_id": BIG}, "contact_id"),
    ("GET", "/api/reports/answer-times?until=0001-01-01T00:00:00Z", None, "query.until"),
    ("GET", "/api/alerts?since=9999-12-31T23:59:59-23:59", None, "query.since"),
])
def test_numbers_out_of_range_are_422_naming_the_field(client: TestClient,
                                                       admin: dict[str, str], method: str,
                                                       path: str, body: Any,
                                                       field: str) -> None:
    r = client.request(method, path, json=body, headers=admin)
    refused(r, 422, field)


# --- unknown references ------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/devices", {"uid": "rf-11223344", "gateway_id": GATEWAY, "model": "XX-9"}, "model"),
    ("/api/devices", {"uid": "rf-11223344", "gateway_id": "gw-nowhere", "model": "PB-433"},
     "gateway_id"),
    ("/api/devices", {"uid": "rf-11223344", "gateway_id": GATEWAY, "model": "PB-433",
                      "resident_id": 987654}, "resident_id"),
    ("/api/homes", {"region_id": 987654, "address": "x"}, "region_id"),
    ("/api/regions", {"name": "x", "level": "社区", "parent_id": 987654}, "parent_id"),
    ("/api/residents", {"home_id": 987654, "name": "x"}, "home_id"),
    ("/api/contacts", {"resident_id": 987654, "name": "x", "phones": ["123"]}, "resident_id"),
    ("/api/gateways", {"id": "gw-new-0001", "home_id": 987654}, "home_id"),
    ("/api/users", {"username": "zed", "display_name": "Z", "role": "operator",
                    "password": "long enough password", "regions": [987654]}, "regions"),
])
def test_unknown_references_are_404_naming_the_field(client: TestClient, world: World,
                                                     admin: dict[str, str], path: str,
                                                     body: dict[str, Any], field: str) -> None:
    with world.connect() as conn:
        before = conn.execute("SELECT (SELECT count(*) FROM devices), (SELECT count(*) FROM "
                              "homes), (SELECT count(*) FROM users)").fetchone()
        refused(client.post(path, json=body, headers=admin), 404, field)
        assert conn.execute("SELECT (SELECT count(*) FROM devices), (SELECT count(*) FROM "
                            "homes), (SELECT count(*) FROM users)").fetchone() == before


def test_a_known_device_model_still_pairs(client: TestClient) -> None:
    r = client.post("/api/devices", headers=sign_in(client, "sam"),
                    json={"uid": "rf-11223344", "gateway_id": GATEWAY, "model": "PB-433"})
    assert r.status_code == 201, r.text


# --- the body limit ----------------------------------------------------------------------------

def test_a_body_over_the_limit_is_413_before_anything_else(client: TestClient,
                                                           alert_id: int) -> None:
    headers = sign_in(client, "alice")
    before = counters(client.app)["body_too_large"]
    notes = {"text": "x" * (300 * 1024)}  # the default limit is 256 kB
    r = client.post(f"/api/alerts/{alert_id}/notes", json=notes, headers=headers)
    assert refused(r, 413)["code"] == "too_large"
    r = client.post(f"/api/alerts/{alert_id}/notes", json=notes)  # not even signed in
    refused(r, 413)
    assert counters(client.app)["body_too_large"] == before + 2
    r = client.post(f"/api/alerts/{alert_id}/notes", json={"text": "x" * 2000}, headers=headers)
    assert r.status_code == 200, "a body under the limit is read as before"


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_the_limit_holds_over_http_with_and_without_content_length(
        world: World, mqtt_broker: BrokerAddress, alert_id: int, declared: bool) -> None:
    """A real server with a 1 kB limit: 8 kB declared up front, or streamed in chunks with no
    Content-Length, is refused with 413; exactly 1 kB is read as usual."""
    body = json.dumps({"text": "x" * 8000}).encode()
    exact = json.dumps({"text": "x" * (1024 - len('{"text": ""}'))}).encode()
    assert len(exact) == 1024

    def chunks(data: bytes) -> Iterator[bytes]:
        yield from (data[i:i + 500] for i in range(0, len(data), 500))

    with running_stack(world, mqtt_broker, TOPICS, ingest=False, http_max_body=1024) as stack:
        client = stack.client("alice")
        headers = {"content-type": "application/json"}
        url = f"/api/alerts/{alert_id}/notes"
        r = client.post(url, content=body if declared else chunks(body), headers=headers)
        assert ("content-length" in r.request.headers) is declared
        assert refused(r, 413)["message"] == "the request body is larger than 1024 bytes"
        r = client.post(url, content=exact if declared else chunks(exact), headers=headers)
        assert r.status_code == 200, r.text


async def test_a_streamed_body_is_not_read_past_the_limit() -> None:
    """The app stops asking for chunks once the limit is passed: nothing buffers 10 MB (the
    body is refused before any dependency runs, so no database is needed)."""
    app = create_app(Settings(http_max_body=4096), ingest=False)
    pulled, sent = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * 1024, "more_body": pulled < 10_000}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/api/alerts/1/notes",
             "raw_path": b"/api/alerts/1/notes", "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    await app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert pulled == 5, "4 kB allowed, the fifth 1 kB chunk is refused"
    assert counters(app)["body_too_large"] == 1


# --- credentials no user can have --------------------------------------------------------------

@pytest.mark.parametrize("body", [
    json.dumps({"username": "ali\x00ce", "password": PASSWORD}).encode(),
    json.dumps({"username": "alice", "password": PASSWORD + "\x00"}).encode(),
    json.dumps({"username": "alice" * 20_000, "password": PASSWORD}).encode(),
    json.dumps({"username": "alice", "password": "p" * 200_000}).encode(),
    b'{"username": "alice", "password": "\\ud800\\udc00\\ud800"}',
    b'{"username": "alice", "password": "correct horse b\xe4ttery"}',  # latin-1, not UTF-8
    b'{"username": "\xff\xfe", "password": "x"}',
    json.dumps({"username": "", "password": ""}).encode(),
], ids=["nul-user", "nul-password", "huge-user", "huge-password", "surrogates", "latin-1",
        "bad-bytes-user", "empty"])
def test_a_login_with_odd_bytes_is_401(client: TestClient, world: World, body: bytes) -> None:
    r = client.post("/api/auth/login", content=body,
                    headers={"content-type": "application/json"})
    assert refused(r, 401)["message"] == "wrong username or password"
    with world.connect() as conn:  # credentials no user can have never reach the database
        assert conn.execute("SELECT count(*) FROM login_throttle WHERE failures > 0"
                            ).fetchone() == (0,)
    sign_in(client, "alice")  # the real one still works


def test_a_login_with_wrong_types_is_422(client: TestClient) -> None:
    r = client.post("/api/auth/login", json={"username": 5, "password": ["x"]})
    body = refused(r, 422)
    assert {d["field"] for d in body["details"]} == {"username", "password"}


# --- the live feed's cursor --------------------------------------------------------------------

@pytest.mark.parametrize("since", ["²", "١٢", str(BIG * 10), "-1", "1.5"])
def test_a_live_feed_cursor_that_is_no_sequence_number_is_refused(client: TestClient,
                                                                  since: str) -> None:
    token = sign_in(client, "alice")["authorization"].split()[1]
    with pytest.raises(WebSocketDisconnect) as closed, \
            client.websocket_connect(f"/api/live?token={token}&since={since}") as ws:
        ws.receive_json()
    assert closed.value.code == 4422


# --- database refusals that get past validation ------------------------------------------------

def test_database_refusals_are_4xx_and_anything_else_a_logged_500(
        world: World, mqtt_broker: BrokerAddress, caplog: pytest.LogCaptureFixture) -> None:
    """Routes added for this test make PostgreSQL itself refuse (no fault is simulated)."""
    app = make_app(world, mqtt_broker)

    @app.post("/test/conflict")
    def conflict(conn: Db) -> None:
        conn.execute("INSERT INTO regions (name, level) VALUES ('', '街道')")  # CHECK

    @app.post("/test/value")
    def value(conn: Db) -> None:
        conn.execute("SELECT 'nine'::int")

    @app.post("/test/broken")
    def broken() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert refused(client.post("/test/conflict"), 409)["code"] == "conflict"
        assert refused(client.post("/test/value"), 422)["code"] == "invalid"
        with caplog.at_level(logging.ERROR, logger="server.api.errors"):
            body = refused(client.post("/test/broken"), 500)
        assert body["code"] == "internal"
        assert "POST /test/broken: unhandled RuntimeError" in caplog.text
        assert dict(counters(app)) == {"db_conflict": 1, "db_value": 1, "internal": 1}
        assert client.get("/api/regions", headers=sign_in(client, "alice")).status_code == 200, \
            "the pool's connections are usable after the refusals"

