"""Outbound webhooks on real PostgreSQL, received by an ``httpx.MockTransport`` endpoint.

Only the network is replaced: deliveries are queued by real transitions, claimed and logged in
``notification_deliveries`` by ``deliver_due``, and, in the last tests, posted by the running
server's ``notifications`` job over the transport given to ``create_app``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from kernel.contract import EventType, Topics
from kernel.services.broker import BrokerAddress
from server.alerts import engine
from server.alerts.machine import load, transition
from server.alerts.model import SYSTEM, Action
from server.alerts.notify import MAX_ATTEMPTS, deliver_due
from server.app import create_app
from server.settings import Settings
from server.store import insert_events
from tests.fixtures.broker import server_broker
from tests.fixtures.ingest import make_event
from tests.fixtures.waiting import eventually_sync
from tests.fixtures.world import BUTTON, CORD, GATEWAY, PASSWORD, World

_n = iter(range(1, 10**6))
Reply = int | type[httpx.TransportError]


class Endpoint:
    """A webhook receiver: records every request and answers each with the next of
    ``replies`` (an HTTP status, or a transport error to raise), 200 once they run out."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if self.replies else 200
        if isinstance(reply, int):
            return httpx.Response(reply)
        raise reply("connection refused", request=request)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))

    def received(self) -> set[tuple[str, str]]:
        """(URL, event) of every request."""
        return {(str(r.url), json.loads(r.content)["event"]) for r in self.requests}


def press(conn: psycopg.Connection[Any], device: str = BUTTON) -> int:
    """A press of one of the world's devices, stored as ingest does: a P1 alert (a new one
    unless that device's incident is still active)."""
    event = make_event(GATEWAY, next(_n), EventType.PRESS, device)
    with conn.transaction():
        insert_events(conn, [event], time.time())
        return engine.on_events(conn, [event])[0]


def dispatch(conn: psycopg.Connection[Any], world: World, alert_id: int) -> None:
    transition(conn, alert_id, Action.CLAIM, world.operator.actor)
    transition(conn, alert_id, Action.DISPATCH, world.operator.actor,
               data={"kind": "community_worker", "target": "李网格员"})


def hook(conn: psycopg.Connection[Any], url: str, *, region: int | None = None,
         contact: int | None = None, secret: str | None = None,
         events: tuple[str, ...] = ("dispatch", "escalate"), active: bool = True) -> int:
    row = conn.execute("INSERT INTO webhooks (region_id, contact_id, url, secret, events, active) "
                       "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                       (region, contact, url, secret, list(events), active)).fetchone()
    assert row is not None
    return int(row[0])


def contact_of(conn: psycopg.Connection[Any], resident: int) -> int:
    row = conn.execute("SELECT id FROM contacts WHERE resident_id = %s", (resident,)).fetchone()
    assert row is not None
    return int(row[0])


def deliveries(conn: psycopg.Connection[Any]) -> dict[str, dict[str, Any]]:
    """The delivery log by webhook URL: status, attempts, last error, delivered or not, and
    the seconds until the next attempt."""
    rows = conn.execute(
        "SELECT w.url, d.id, d.event, d.status, d.attempts, d.last_error, "
        "d.delivered_at IS NOT NULL, extract(epoch FROM d.next_attempt - now())::float8 "
        "FROM notification_deliveries d JOIN webhooks w ON w.id = d.webhook_id").fetchall()
    keys = ("id", "event", "status", "attempts", "last_error", "delivered", "retry_in")
    return {r[0]: dict(zip(keys, r[1:], strict=True)) for r in rows}


def make_due(conn: psycopg.Connection[Any]) -> None:
    """Time passes: every pending delivery is due now."""
    conn.execute("UPDATE notification_deliveries SET next_attempt = now() "
                 "WHERE status = 'pending'")


def test_a_delivery_posts_the_alert_as_json_signed_with_the_webhook_secret(
        world: World) -> None:
    secret = "s3cret-平安"  # not ASCII: signed over its UTF-8 bytes
    endpoint = Endpoint()
    with world.connect() as conn, endpoint.client() as client:
        hook(conn, "https://hooks.example.org/pal?team=7", region=world.street, secret=secret)
        contact = contact_of(conn, world.resident)
        hook(conn, "http://family.example/notify", contact=contact)
        alert_id = press(conn)
        dispatch(conn, world, alert_id)
        alert = load(conn, alert_id)
        assert deliver_due(conn, client) == 2
        log = deliveries(conn)
        assert deliver_due(conn, client) == 0, "each delivery is sent once"
    by_url = {str(r.url): r for r in endpoint.requests}
    assert set(by_url) == {"https://hooks.example.org/pal?team=7", "http://family.example/notify"}
    signed = by_url["https://hooks.example.org/pal?team=7"]
    assert signed.method == "POST"
    assert signed.headers["content-type"] == "application/json"
    expected = hmac.new(secret.encode("utf-8"), signed.content, hashlib.sha256).hexdigest()
    assert signed.headers["x-pinganling-signature"] == f"sha256={expected}"
    assert "x-pinganling-signature" not in by_url["http://family.example/notify"].headers
    body = json.loads(signed.content)
    assert body["event"] == "dispatch"
    assert {k: body["alert"][k] for k in ("id", "type", "priority", "state", "title",
                                          "address", "resident")} == {
        "id": alert_id, "type": "panic", "priority": "P1", "state": "dispatched",
        "title": "王秀英", "address": "幸福路 8 号 3 单元 201", "resident": "王秀英"}
    assert datetime.fromisoformat(body["alert"]["opened_at"]) == alert.opened_at
    for url, request in by_url.items():
        assert request.headers["x-pinganling-delivery"] == str(log[url]["id"])
        assert json.loads(request.content) == body
        assert log[url] | {"id": 0, "retry_in": 0} == {
            "id": 0, "event": "dispatch", "status": "delivered", "attempts": 1,
            "last_error": None, "delivered": True, "retry_in": 0}


def test_a_failing_endpoint_is_retried_with_growing_backoff_then_given_up(
        world: World) -> None:
    url = "https://hooks.example.org/down"
    failures: list[Reply] = [500 if k % 2 else httpx.ConnectError for k in range(MAX_ATTEMPTS)]
    endpoint = Endpoint(*failures)
    seen = []
    with world.connect() as conn, endpoint.client() as client:
        hook(conn, url, region=world.community)
        dispatch(conn, world, press(conn))
        for _ in range(MAX_ATTEMPTS):
            assert deliver_due(conn, client) == 1
            seen.append(deliveries(conn)[url])
            assert deliver_due(conn, client) == 0, "not due again before its backoff"
            make_due(conn)
        assert deliver_due(conn, client) == 0, "given up: never sent again"
    assert len(endpoint.requests) == MAX_ATTEMPTS
    assert [d["attempts"] for d in seen] == list(range(1, MAX_ATTEMPTS + 1))
    assert [d["status"] for d in seen] == ["pending"] * (MAX_ATTEMPTS - 1) + ["failed"]
    assert not any(d["delivered"] for d in seen)
    assert seen[0]["last_error"].startswith("ConnectError: connection refused")
    assert seen[1]["last_error"] == "HTTP 500"
    waits = [d["retry_in"] for d in seen]
    assert all(later > earlier for earlier, later in itertools.pairwise(waits)), waits
    for attempt, wait in enumerate(waits, 1):  # 10 s, 20 s, 40 s, … at most an hour
        assert abs(wait - min(3600, 5 * 2 ** attempt)) < 5, (attempt, waits)


def test_a_retry_that_gets_through_marks_the_delivery_delivered(world: World) -> None:
    url = "https://hooks.example.org/flaky"
    endpoint = Endpoint(503)
    with world.connect() as conn, endpoint.client() as client:
        hook(conn, url, region=world.community, secret="k")
        dispatch(conn, world, press(conn))
        deliver_due(conn, client)
        first = deliveries(conn)[url]
        make_due(conn)
        assert deliver_due(conn, client) == 1
        second = deliveries(conn)[url]
    assert (first["status"], first["last_error"], first["delivered"]) == (
        "pending", "HTTP 503", False)
    assert (second["status"], second["attempts"], second["last_error"], second["delivered"]) \
        == ("delivered", 2, None, True)
    first_body, second_body = (r.content for r in endpoint.requests)
    assert first_body == second_body, "a retry sends the same payload"


def test_only_active_webhooks_of_the_alerts_region_or_contacts_subscribed_to_the_event(
        world: World) -> None:
    endpoint = Endpoint()
    with world.connect() as conn, endpoint.client() as client:
        contact = contact_of(conn, world.resident)
        hook(conn, "https://a.example/both", region=world.community)
        hook(conn, "https://b.example/inactive", region=world.street, active=False)
        hook(conn, "https://c.example/escalations", region=world.street, events=("escalate",))
        hook(conn, "https://d.example/elsewhere", region=world.other_community)
        hook(conn, "https://e.example/family", contact=contact, events=("dispatch",))
        alert_id = press(conn)
        transition(conn, alert_id, Action.ESCALATE, SYSTEM)
        dispatch(conn, world, alert_id)  # a claim, then a dispatch
        transition(conn, alert_id, Action.NOTE, world.operator.actor, note="已联系家属")
        while deliver_due(conn, client):
            pass
    assert endpoint.received() == {
        ("https://a.example/both", "escalate"), ("https://a.example/both", "dispatch"),
        ("https://c.example/escalations", "escalate"), ("https://e.example/family", "dispatch")}
    assert len(endpoint.requests) == 4


def test_a_webhook_deactivated_after_queueing_sends_nothing(world: World) -> None:
    endpoint = Endpoint()
    with world.connect() as conn, endpoint.client() as client:
        hook_id = hook(conn, "https://a.example/retired", region=world.community)
        dispatch(conn, world, press(conn))
        conn.execute("UPDATE webhooks SET active = false WHERE id = %s", (hook_id,))
        assert deliver_due(conn, client) == 0
        log = deliveries(conn)["https://a.example/retired"]
    assert endpoint.requests == []
    assert (log["status"], log["attempts"]) == ("failed", 0)
    assert log["last_error"] == "the webhook was deactivated before delivery"


def test_a_webhook_url_httpx_cannot_parse_fails_alone(world: World) -> None:
    """The table's check admits it (``^https?://``); httpx refuses it before sending. Its
    delivery is logged as failed like any other; the other deliveries go out."""
    endpoint = Endpoint()
    with world.connect() as conn, endpoint.client() as client:
        hook(conn, "http://[::1", region=world.community)
        hook(conn, "https://a.example/fine", region=world.community)
        dispatch(conn, world, press(conn))
        assert deliver_due(conn, client) == 2
        log = deliveries(conn)
    assert endpoint.received() == {("https://a.example/fine", "dispatch")}
    assert log["https://a.example/fine"]["status"] == "delivered"
    assert log["http://[::1"]["status"] == "pending"
    assert log["http://[::1"]["last_error"].startswith("InvalidURL: ")


@pytest.fixture
def app_settings(world: World, mqtt_broker: BrokerAddress, topics: Topics) -> Settings:
    return Settings(database_url=world.schema.conninfo, **server_broker(mqtt_broker),
                    mqtt_root=topics.root, detectors=False,
                    escalation_every=timedelta(milliseconds=100))


def test_the_server_posts_webhooks_over_the_transport_it_was_given(
        world: World, app_settings: Settings) -> None:
    endpoint = Endpoint()
    app = create_app(app_settings, ingest=False, http_transport=httpx.MockTransport(endpoint))
    with world.connect() as conn, TestClient(app) as api:
        hook(conn, "https://hooks.example.org/pal", region=world.community, secret="k")
        alert_id = press(conn)
        r = api.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
        alice = {"authorization": f"Bearer {r.json()['token']}"}
        assert api.post(f"/api/alerts/{alert_id}/claim", headers=alice).status_code == 200
        r = api.post(f"/api/alerts/{alert_id}/dispatches", headers=alice,
                     json={"kind": "community_worker", "target": "李网格员"})
        assert r.status_code == 200, r.text
        eventually_sync(lambda: endpoint.requests, 15, "the server's notifications job")
        eventually_sync(lambda: deliveries(conn)["https://hooks.example.org/pal"]["delivered"],
                        15, "the delivery logged as delivered")
    assert endpoint.received() == {("https://hooks.example.org/pal", "dispatch")}


class Stuck:
    """A webhook endpoint that does not answer until released."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.entered.set()
        self.release.wait(60)
        return httpx.Response(200)


def test_a_webhook_that_does_not_answer_never_holds_up_escalation(
        world: World, app_settings: Settings) -> None:
    stuck = Stuck()
    app = create_app(app_settings, ingest=False, http_transport=httpx.MockTransport(stuck))
    with world.connect() as conn, TestClient(app):
        try:
            hook(conn, "https://slow.example/hook", region=world.community, events=("escalate",))
            first = press(conn)
            conn.execute("UPDATE alerts SET opened_at = now() - interval '61 seconds' "
                         "WHERE id = %s", (first,))
            eventually_sync(stuck.entered.is_set, 15, "the first escalation's webhook POST")
            second = press(conn, CORD)  # the pull cord: another incident
            assert second != first
            conn.execute("UPDATE alerts SET opened_at = now() - interval '61 seconds' "
                         "WHERE id = %s", (second,))
            eventually_sync(lambda: load(conn, second).escalated, 15,
                            "the second alert escalated while the webhook still hangs")
        finally:
            stuck.release.set()
