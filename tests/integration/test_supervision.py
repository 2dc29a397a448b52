"""Supervision: a silent device becomes one stored event and one P3 alert; a gateway that
stops heart-beating is marked offline."""

from __future__ import annotations

import time

from server.store import set_gateway_state
from server.supervision import supervise
from tests.fixtures.world import BUTTON, GATEWAY, World


def test_a_silent_device_is_reported_once_until_heard_again(world: World) -> None:
    with world.connect() as conn:
        set_gateway_state(conn, GATEWAY, "online", time.time() - 3 * 3600)
        conn.execute("UPDATE devices SET paired_at = now() - interval '1 day'")
        conn.execute("UPDATE devices SET last_seen = now() - interval '2 hours' WHERE uid = %s",
                     (BUTTON,))
        conn.execute("UPDATE devices SET last_seen = now() WHERE uid <> %s", (BUTTON,))
        first = supervise(conn)
        again = supervise(conn)
        alerts = conn.execute("SELECT type, priority, device, state FROM alerts").fetchall()
        events = conn.execute("SELECT id LIKE 'srv:%%', type, source FROM events").fetchall()
    assert first.silent_devices == [BUTTON]
    assert again.silent_devices == [], "reported once"
    assert alerts == [("device_silent", "P3", BUTTON, "open")]
    assert events == [(True, "device_silent", "server")]


def test_a_gateway_without_heartbeats_goes_offline(world: World) -> None:
    with world.connect() as conn:
        set_gateway_state(conn, GATEWAY, "online", time.time() - 600)
        conn.execute("UPDATE gateways SET last_seen = now() - interval '10 minutes'")
        report = supervise(conn)
        state = conn.execute("SELECT state FROM gateways").fetchone()
    assert report.stale_gateways == [GATEWAY]
    assert state == ("offline",)


def test_silence_counts_from_when_the_gateway_came_back(world: World) -> None:
    with world.connect() as conn:
        conn.execute("UPDATE devices SET last_seen = now() - interval '2 hours'")
        set_gateway_state(conn, GATEWAY, "online", time.time())  # back after a long outage
        report = supervise(conn)
    assert report.silent_devices == [], "give the devices a chance to be heard first"


def test_an_unpaired_device_is_never_silent(world: World) -> None:
    """Supervision follows the server's list: a device unpaired (or replaced) there is not
    reported however long it is quiet; its row and history stay."""
    with world.connect() as conn:
        set_gateway_state(conn, GATEWAY, "online", time.time() - 3 * 3600)
        conn.execute("UPDATE devices SET paired_at = now() - interval '1 day', "
                     "last_seen = now() - interval '2 hours'")
        conn.execute("UPDATE devices SET unpaired_at = now() - interval '1 hour'")
        report = supervise(conn)
        alerts = conn.execute("SELECT count(*) FROM alerts").fetchone()
    assert report.silent_devices == []
    assert alerts == (0,)
