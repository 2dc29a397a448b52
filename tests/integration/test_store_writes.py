"""Write path for events, gateways and devices against a real schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from kernel import contract
from server.store import (
    BadRow,
    DeviceSeen,
    StoredEvents,
    insert_events,
    known_gateways,
    seen_in_heartbeat,
    set_gateway_state,
    touch_devices,
)
from server.store.events import variant

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
INC = "a1b2c3d4e5f6"


def event(gw: str, n: int, inc: str | None = INC, **kw: Any) -> contract.Event:
    fields: dict[str, Any] = {"id": contract.event_id(gw, inc, n), "gw": gw, "inc": inc, "n": n,
                              "ts": T0 + n, "device": "rf-0a1b2c3d",
                              "type": contract.EventType.PRESS}
    return contract.Event(**{**fields, **kw})


def ids(result: StoredEvents) -> list[str]:
    return [e.id for e in result.new]


def test_events_are_stored_once_per_id(db: psycopg.Connection[Any]) -> None:
    first = [event("gw-one", n) for n in (1, 2, 3)]
    stored = insert_events(db, first, received_at=T0 + 10)
    assert ids(stored) == [f"gw-one:{INC}:{n}" for n in (1, 2, 3)]
    assert (stored.duplicates, stored.conflicts) == (0, 0)
    replay = [event("gw-one", n) for n in (2, 3, 4, 4)]  # redelivered, plus a new one twice
    stored = insert_events(db, replay, received_at=T0 + 20)
    assert ids(stored) == [f"gw-one:{INC}:4"]
    assert (stored.duplicates, stored.conflicts) == (3, 0)
    rows = db.execute("SELECT id, incarnation, received_at FROM events ORDER BY n").fetchall()
    assert [r[0] for r in rows] == [f"gw-one:{INC}:{n}" for n in (1, 2, 3, 4)]
    assert {r[1] for r in rows} == {INC}
    assert rows[1][2] == datetime.fromtimestamp(T0 + 10, UTC)  # first delivery kept


def test_event_fields_round_trip(db: psycopg.Connection[Any]) -> None:
    e = event("gw-two", 7, dseq=12, rssi=-71, battery_mv=2950, type=contract.EventType.FALL,
              data={"peak_g": 3.5, "posture": "lying", "confirmed": True})
    insert_events(db, [e], received_at=T0 + 8.25)
    row = db.execute("SELECT gateway_id, incarnation, n, device, dseq, type, ts, rssi, "
                     "battery_mv, data, received_at, variant FROM events WHERE id = %s",
                     (f"gw-two:{INC}:7",)).fetchone()
    assert row == ("gw-two", INC, 7, e.device, 12, "fall", datetime.fromtimestamp(e.ts, UTC),
                   -71, 2950, e.data, datetime.fromtimestamp(T0 + 8.25, UTC), None)


def test_a_repeated_id_with_other_content_is_kept_as_a_conflict(
        db: psycopg.Connection[Any]) -> None:
    """A reset gateway without incarnations (legacy ids) numbers from 1 again: its new press
    shares an id with an old one. Both are kept; redeliveries of either are duplicates."""
    old = event("gw-one", 1, inc=None, dseq=5)
    reset = event("gw-one", 1, inc=None, dseq=0, ts=T0 + 3600, device="rf-0a1b2c3e")
    assert ids(insert_events(db, [old], received_at=T0)) == ["gw-one:1"]
    stored = insert_events(db, [reset], received_at=T0 + 3601)
    (kept,) = stored.new
    assert kept.id == f"gw-one:1~{variant(reset)}"
    assert (kept.device, kept.dseq, kept.ts) == (reset.device, 0, reset.ts)
    assert (stored.duplicates, stored.conflicts) == (0, 1)
    again = insert_events(db, [reset, old, reset], received_at=T0 + 3602)  # redelivered
    assert (again.new, again.duplicates, again.conflicts) == ([], 3, 0)
    rows = db.execute("SELECT id, variant, device, dseq FROM events ORDER BY received_at")
    assert rows.fetchall() == [("gw-one:1", None, old.device, 5),
                               (kept.id, kept.id.split("~")[1], reset.device, 0)]


def test_each_differing_field_makes_a_conflict_and_equal_content_does_not(
        db: psycopg.Connection[Any]) -> None:
    base = event("gw-one", 1, dseq=1, rssi=-60, battery_mv=2900, data={"input": "main"})
    insert_events(db, [base], received_at=T0)
    changes: list[dict[str, Any]] = [
        {"device": "rf-0a1b2c3e"}, {"dseq": 2}, {"type": contract.EventType.CANCEL},
        {"ts": base.ts + 0.001}, {"rssi": -61}, {"battery_mv": 2800}, {"data": {"input": "aux"}}]
    for change in changes:
        stored = insert_events(db, [base.model_copy(update=change)], received_at=T0)
        assert stored.conflicts == 1, change
    same = base.model_copy(update={"ts": base.ts + 2e-7})  # the microsecond the column keeps
    assert insert_events(db, [same], received_at=T0).duplicates == 1
    assert db.execute("SELECT count(*) FROM events").fetchone() == (1 + len(changes),)


def test_two_contents_under_one_id_in_one_batch(db: psycopg.Connection[Any]) -> None:
    a, b = event("gw-one", 1), event("gw-one", 1, device="rf-0a1b2c3e")
    stored = insert_events(db, [a, b, b, a], received_at=T0)
    assert [e.device for e in stored.new] == [a.device, b.device]
    assert (stored.duplicates, stored.conflicts) == (2, 1)


def test_a_gateways_incarnation_is_recorded_and_a_change_reported(
        db: psycopg.Connection[Any]) -> None:
    db.execute("INSERT INTO gateways (id) VALUES ('gw-one')")
    assert insert_events(db, [event("gw-one", 1)], T0).incarnations == [("gw-one", None, INC)]
    assert insert_events(db, [event("gw-one", 2)], T0).incarnations == []
    assert insert_events(db, [event("gw-one", 3, inc=None)], T0).incarnations == []  # legacy
    fresh = insert_events(db, [event("gw-one", 1, inc="0f0f0f0f0f0f", ts=T0 + 100)], T0)
    assert fresh.incarnations == [("gw-one", INC, "0f0f0f0f0f0f")]
    assert fresh.conflicts == 0, "a new incarnation's n = 1 is another id"
    late = insert_events(db, [event("gw-one", 4)], T0)  # the old state's, redelivered late
    assert (late.incarnations, len(late.new)) == ([], 1)
    assert db.execute("SELECT incarnation, incarnation_since FROM gateways").fetchone() == (
        "0f0f0f0f0f0f", datetime.fromtimestamp(T0 + 100, UTC))


def test_bad_events_are_refused_before_anything_is_stored(db: psycopg.Connection[Any]) -> None:
    good = event("gw-one", 1)
    forged = event("gw-one", 2).model_copy(update={"id": f"gw-other:{INC}:2"})
    with pytest.raises(BadRow) as info:
        insert_events(db, [good, forged], received_at=T0)
    assert info.value.reason == "event_id_mismatch"
    legacy_id = event("gw-one", 2).model_copy(update={"id": "gw-one:2"})
    with pytest.raises(BadRow, match="event_id_mismatch"):
        insert_events(db, [legacy_id], received_at=T0)  # an incarnation's event needs it in id
    # the contract refuses a NaN time at decode; the store checks again (model_construct
    # builds the event without the contract's validation)
    nan_time = contract.Event.model_construct(**{**dict(event("gw-one", 3)), "ts": float("nan")})
    with pytest.raises(BadRow, match="bad_time"):
        insert_events(db, [nan_time], received_at=T0)
    assert db.execute("SELECT count(*) FROM events").fetchone() == (0,)


def test_events_join_the_callers_transaction(db_schema: Any) -> None:
    def fail_after_insert(conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            insert_events(conn, [event("gw-one", 2)], received_at=T0)
            conn.execute("SELECT 1/0")

    with db_schema.connect() as conn:
        with conn.transaction():
            insert_events(conn, [event("gw-one", 1)], received_at=T0)
        with pytest.raises(psycopg.errors.DivisionByZero):
            fail_after_insert(conn)
        ids = [r[0] for r in conn.execute("SELECT id FROM events ORDER BY id")]
    assert ids == [f"gw-one:{INC}:1"]


def test_gateway_state_changes_are_recorded(db: psycopg.Connection[Any]) -> None:
    assert known_gateways(db) == set()
    assert set_gateway_state(db, "gw-home-1", "online", T0) is False, "not provisioned: ignored"
    assert known_gateways(db) == set()
    db.execute("INSERT INTO gateways (id) VALUES ('gw-home-1')")
    assert set_gateway_state(db, "gw-home-1", "online", T0) is True
    assert set_gateway_state(db, "gw-home-1", "online", T0 + 30) is False
    assert set_gateway_state(db, "gw-home-1", "offline", T0 + 60) is True
    # a late 'online' from before the offline does not flip the state back, but it was a sign
    # of life at its time
    assert set_gateway_state(db, "gw-home-1", "online", T0 + 45) is False
    assert known_gateways(db) == {"gw-home-1"}
    state = db.execute("SELECT state, state_since, last_seen FROM gateways").fetchone()
    assert state == ("offline", datetime.fromtimestamp(T0 + 60, UTC),
                     datetime.fromtimestamp(T0 + 45, UTC))
    history = db.execute("SELECT state, ts FROM gateway_presence ORDER BY ts").fetchall()
    assert history == [("online", datetime.fromtimestamp(T0, UTC)),
                       ("offline", datetime.fromtimestamp(T0 + 60, UTC))]


def test_heartbeat_is_kept_with_its_config_revision(db: psycopg.Connection[Any]) -> None:
    hb = contract.Heartbeat(
        gw="gw-home-2", ts=T0, uptime_s=100, interval_s=30, config_rev=4,
        outbox=contract.OutboxHealth(depth=0, alarms=0, shed=0),
        devices=[contract.DeviceHealth(device="rf-0a1b2c3d", kind="button", rssi=-60)])
    db.execute("INSERT INTO gateways (id) VALUES ('gw-home-2')")
    set_gateway_state(db, "gw-home-2", "online", T0, heartbeat=hb)
    row = db.execute("SELECT last_heartbeat, config_rev FROM gateways").fetchone()
    assert row == (hb.model_dump(mode="json"), 4)


def test_bad_gateway_id_is_refused(db: psycopg.Connection[Any]) -> None:
    with pytest.raises(BadRow, match="bad_gateway_id"):
        set_gateway_state(db, "GW ONE", "online", T0)


def test_touch_devices_only_moves_forward(db: psycopg.Connection[Any]) -> None:
    db.execute("INSERT INTO devices (uid, kind) VALUES ('ble-c47c8d6a1234', 'wearable')")
    assert touch_devices(db, [DeviceSeen("ble-c47c8d6a1234", T0 + 10, -70, 3000, 80),
                              DeviceSeen("ble-c47c8d6a1234", T0 + 5, -90, 2000, 10),
                              DeviceSeen("ble-unknown-1", T0, -50)]) == 1
    assert touch_devices(db, [DeviceSeen("ble-c47c8d6a1234", T0 + 1, -99, 1000, 1)]) == 1
    row = db.execute("SELECT last_seen, rssi, battery_mv, battery_pct FROM devices").fetchone()
    assert row == (datetime.fromtimestamp(T0 + 10, UTC), -70, 3000, 80)
    assert touch_devices(db, []) == 0


def test_seen_in_heartbeat_uses_each_devices_own_time() -> None:
    hb = contract.Heartbeat(
        gw="gw-home-2", ts=T0, uptime_s=1, interval_s=30,
        outbox=contract.OutboxHealth(depth=0, alarms=0, shed=0),
        devices=[contract.DeviceHealth(device="rf-01020304", kind="button", last_seen=T0 - 9),
                 contract.DeviceHealth(device="rf-05060708", kind="button")])
    assert [(s.device, s.ts) for s in seen_in_heartbeat(hb)] == [
        ("rf-01020304", T0 - 9), ("rf-05060708", T0)]
