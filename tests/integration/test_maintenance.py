"""Maintenance on the real database: installation tests (pass on the device's press, fail on
timeout, never in the emergency queue), work orders (once per missed self-test and per silence,
claimed and closed with an audit), console commands' timeouts, the health filters, regions."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from kernel.contract import Event, EventType
from server.alerts import engine
from server.alerts.model import Role
from server.auth.users import User, create_user, get_user
from server.errors import Invalid, NotFound
from server.maintenance import commands, health, installation, work_orders
from server.maintenance.checks import run_checks
from server.scope import Scope
from server.settings import Settings
from server.store import insert_events
from server.supervision import supervise
from tests.fixtures.staff import Staff
from tests.fixtures.waiting import eventually_sync
from tests.fixtures.world import BUTTON, CORD, GATEWAY, PASSWORD, PENDANT, World

SETTINGS = Settings()
ALL_SCOPE = Scope.everywhere()


def _technician_elsewhere(world: World) -> User:
    with world.connect() as conn:
        found = get_user(conn, create_user(conn, "otto", "Otto", Role.TECHNICIAN, PASSWORD,
                                           regions=(world.other_community,)))
    assert found is not None
    return found


def _press(conn: Any, n: int, device: str = BUTTON, etype: EventType = EventType.PRESS,
           **data: Any) -> Event:
    """A gateway's event stored as the ingest stores it, then the alert engine's turn."""
    event = Event(id=f"{GATEWAY}:{n}", gw=GATEWAY, n=n, device=device, type=etype,
                  ts=time.time(), data=data)
    with conn.transaction():
        insert_events(conn, [event], [time.time()])
        engine.on_events(conn, [event])
    return event


def _alerts(conn: Any) -> list[tuple[str, str]]:
    rows = conn.execute("SELECT type, priority FROM alerts ORDER BY id").fetchall()
    return [(str(kind), str(priority)) for kind, priority in rows]


def test_an_installation_test_passes_on_the_press_and_raises_no_alert(
        world: World, staff: Staff) -> None:
    with world.connect() as conn:
        (test,) = installation.start(conn, SETTINGS, staff.technician, device=BUTTON)
        assert (test.state, test.actor, test.gateway_id) == ("pending", "tina", GATEWAY)
        again = installation.start(conn, SETTINGS, staff.technician, device=BUTTON)
        assert [t.id for t in again] == [test.id]  # one open test per device
        # the gateway's own test event (its test_alarm command) shows the path, not the button
        _press(conn, 1, etype=EventType.TEST, command="mnt-1")
        assert installation.recent(conn, ALL_SCOPE, device=BUTTON)[0].state == "pending"
        event = _press(conn, 2)
        (done,) = installation.recent(conn, Scope.of(staff.technician), device=BUTTON)
        assert (done.state, done.event_id) == ("pass", event.id)
        assert done.ended_at is not None
        assert done.ended_at >= done.started_at
        assert ("panic", "P1") not in _alerts(conn)  # the test press is not an alarm
        _press(conn, 3)  # with no test open, a press is an alarm again
        assert ("panic", "P1") in _alerts(conn)


def test_an_installation_test_fails_when_nobody_presses_in_time(
        world: World, staff: Staff) -> None:
    quick = Settings(installation_test_window=timedelta(milliseconds=300))
    with world.connect() as conn:
        started = installation.start(conn, quick, staff.technician, gateway=GATEWAY)
        assert sorted(t.device for t in started) == [BUTTON, CORD]  # alarm buttons only
        eventually_sync(lambda: run_checks(conn, quick).tests_failed or None, 10,
                        "the tests to fail", every=0.1)
        found = installation.recent(conn, Scope.of(staff.technician), gateway=GATEWAY)
        assert {t.state for t in found} == {"fail"}
        assert all(t.ended_at == t.deadline for t in found)
        _press(conn, 1)  # too late: an alarm, not a pass
        assert installation.recent(conn, ALL_SCOPE, device=BUTTON)[0].state == "fail"
        assert ("panic", "P1") in _alerts(conn)
        fails = health.devices(conn, SETTINGS, ALL_SCOPE, only="failed_test")
        assert sorted(d.uid for d in fails) == [BUTTON, CORD]


def test_a_missed_self_test_opens_one_work_order(world: World, staff: Staff) -> None:
    with world.connect() as conn:
        conn.execute("UPDATE devices SET paired_at = now() - interval '9 days'")
        _press(conn, 1, device=CORD)  # the pull cord was tested just now
        states = {d.uid: d.self_test for d in health.devices(conn, SETTINGS, ALL_SCOPE)}
        assert states == {BUTTON: "missed", CORD: "ok", PENDANT: None}
        first = run_checks(conn, SETTINGS).orders_opened
        assert run_checks(conn, SETTINGS).orders_opened == []  # no duplicate
        (order,) = work_orders.listing(conn, Scope.of(staff.technician))
        assert first == [order.id]
        assert (order.device, order.reason, order.state) == (BUTTON, "self_test_missed", "open")
        assert timedelta(hours=1, minutes=59) < order.due_at - order.created_at \
            <= timedelta(hours=2)
        with pytest.raises(NotFound):  # another region's technician
            work_orders.claim(conn, _technician_elsewhere(world), order.id)
        claimed = work_orders.claim(conn, staff.technician, order.id)
        assert (claimed.state, claimed.claimed_by) == ("claimed", "tina")
        closed = work_orders.close(conn, staff.technician, order.id, "battery replaced, tested")
        assert (closed.state, closed.closed_by, closed.note) == (
            "closed", "tina", "battery replaced, tested")
        trail = work_orders.history(conn, ALL_SCOPE, order.id)
        assert [(e["actor"], e["action"]) for e in trail] == [
            ("server", "open"), ("tina", "claim"), ("tina", "close")]
        assert trail[-1]["detail"] == {"note": "battery replaced, tested"}
        assert run_checks(conn, SETTINGS).orders_opened == []  # same missed cycle: closed


def test_a_silent_device_opens_one_work_order(world: World, staff: Staff) -> None:
    with world.connect() as conn:
        conn.execute("UPDATE gateways SET state = 'online', state_since = now() - interval "
                     "'2 days', last_seen = now(), last_heartbeat = '{\"interval_s\": 30}'")
        conn.execute("UPDATE devices SET last_seen = now() - interval '2 days', paired_at = "
                     "now() - interval '2 days' WHERE uid = %s", (CORD,))
        conn.execute("UPDATE devices SET last_seen = now(), paired_at = now() WHERE uid <> %s",
                     (CORD,))
        assert supervise(conn).silent_devices == [CORD]
        opened = run_checks(conn, SETTINGS).orders_opened
        run_checks(conn, SETTINGS)
        (order,) = work_orders.listing(conn, ALL_SCOPE, state="open")
        assert opened == [order.id]
        assert (order.device, order.reason) == (CORD, "device_silent")
        assert [d.uid for d in health.devices(conn, SETTINGS, ALL_SCOPE, only="silent")] == [CORD]
        assert [d.uid for d in health.devices(conn, SETTINGS, ALL_SCOPE,
                                              only="open_order")] == [CORD]
        work_orders.close(conn, staff.technician, order.id, "新电池")
        assert run_checks(conn, SETTINGS).orders_opened == []  # the same silence
        assert health.devices(conn, SETTINGS, ALL_SCOPE, only="open_order") == []


def test_the_health_filters(world: World, staff: Staff) -> None:
    with world.connect() as conn:
        conn.execute("UPDATE devices SET battery_pct = 90, rssi = -60, last_seen = now(), "
                     "paired_at = now()")
        conn.execute("UPDATE devices SET battery_pct = 12 WHERE uid = %s", (BUTTON,))
        conn.execute("UPDATE devices SET rssi = -97 WHERE uid = %s", (PENDANT,))
        conn.execute("UPDATE devices SET paired_at = now() - interval '7 days 1 hour' "
                     "WHERE uid = %s", (CORD,))
        conn.execute("UPDATE gateways SET state = 'online', last_heartbeat = %s", (
            '{"uptime_s": 3600.5, "interval_s": 30, "config_rev": 2, "outbox": {"depth": 4, '
            '"alarms": 1, "oldest_s": 12.5, "shed": 0}}',))
        tech = Scope.of(staff.technician)

        def uids(only: str | None) -> list[str]:
            return [d.uid for d in health.devices(conn, SETTINGS, tech, only=only)]

        assert uids(None) == sorted([BUTTON, CORD, PENDANT])
        assert uids("attention") == sorted([BUTTON, PENDANT])
        assert uids("low_battery") == [BUTTON]
        assert uids("weak_signal") == [PENDANT]
        assert uids("silent") == []
        self_tests = {d.uid: d.self_test for d in health.devices(conn, SETTINGS, tech)}
        assert self_tests == {BUTTON: "ok", CORD: "due", PENDANT: None}  # due: no attention yet
        with pytest.raises(Invalid):
            uids("everything")
        # the server's device list at revision 3, the gateway at 2: all its devices pending
        conn.execute("UPDATE gateways SET desired_rev = 3, config_rev = 2")
        assert uids("config_pending") == sorted([BUTTON, CORD, PENDANT])
        conn.execute("UPDATE gateways SET config_rev = 3")
        assert uids("config_pending") == []
        conn.execute("UPDATE devices SET unpaired_at = now() WHERE uid = %s", (CORD,))
        assert uids(None) == sorted([BUTTON, PENDANT]), "an unpaired device is not listed"
        conn.execute("UPDATE devices SET unpaired_at = NULL")
        (gw,) = [g for g in health.gateways(conn, SETTINGS, tech) if g.id == GATEWAY]
        assert (gw.state, gw.uptime_s, gw.outbox_depth, gw.outbox_alarms, gw.devices,
                gw.attention) == ("online", 3600.5, 4, 1, 3, 2)
        assert [p.state for p in health.presence(conn, tech, GATEWAY)] == []
        elsewhere = Scope.of(_technician_elsewhere(world))
        assert health.devices(conn, SETTINGS, elsewhere) == []
        with pytest.raises(NotFound):
            health.presence(conn, elsewhere, GATEWAY)


def test_a_command_without_a_result_times_out(world: World, staff: Staff) -> None:
    with world.connect() as conn:
        conn.execute(
            "INSERT INTO gateway_commands (id, gateway_id, op, actor, deadline) VALUES "
            "('mnt-late', %s, 'status', 'tina', now() - interval '1 second'), "
            "('mnt-fresh', %s, 'scan', 'tina', now() + interval '1 hour')", (GATEWAY, GATEWAY))
        assert run_checks(conn, SETTINGS).commands_timed_out == 1
        states = {c.id: c.state for c in commands.history(conn, ALL_SCOPE, GATEWAY)}
        assert states == {"mnt-late": "timeout", "mnt-fresh": "pending"}
        with pytest.raises(NotFound):
            commands.history(conn, Scope.of(_technician_elsewhere(world)), GATEWAY)
