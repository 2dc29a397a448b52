"""The server's detector worker on real PostgreSQL: falls, faults, activity, vitals, inactivity."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import psycopg

from analytics.inactivity import InactivityRules, Rule
from firmware_sim.plan import Home
from firmware_sim.routine import parse_clock
from firmware_sim.scenarios import find_scenario
from hardware.accel import quantize, scale_for_range
from kernel.contract import AccBlock, Event, EventType, VitalReading, Vitals, event_id
from server.detect.activity import sensor_minutes, store_minutes
from server.detect.inactivity import MIN_DAYS, fit_limits, inactivity_pass
from server.detect.vitals import vitals_pass
from server.detect.worker import DetectorWorker
from server.store import (
    ActivityMinute,
    copy_acc_blocks,
    copy_activity,
    copy_vitals,
    insert_events,
    set_gateway_state,
)
from tests.fixtures.ingest import INC
from tests.fixtures.world import GATEWAY, PENDANT, World

RANGE_G = 8


def blocks_from(acc: np.ndarray, device: str, t0: float) -> list[AccBlock]:
    """Acceleration in g → 1-s contract blocks starting at ``t0``."""
    counts = quantize(acc, RANGE_G)
    return [AccBlock(device, round((t0 + i) * 1e6), i, 50.0, scale_for_range(RANGE_G),
                     counts[i * 50:(i + 1) * 50]) for i in range(len(acc) // 50)]


def alerts(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT type, priority, device, resident_id FROM alerts ORDER BY id"
                        ).fetchall()


def test_a_fall_in_the_stream_becomes_a_p1_alert_for_the_resident(world: World) -> None:
    """The demo scenario's pendant (the world's PENDANT) falls at 10:02:30."""
    pendant = next(w for w in Home(find_scenario("demo")).wearables.values()
                   if w.uid == PENDANT)
    start, end = parse_clock("10:01:00"), parse_clock("10:04:00")
    now = time.time()
    blocks = blocks_from(pendant.acceleration(start, end), PENDANT, now - (end - start))
    worker = DetectorWorker()
    with world.connect() as conn:
        copy_acc_blocks(conn, [(b, now) for b in blocks])
        worker.tick(conn)
        found = alerts(conn)
        event = conn.execute("SELECT type, source, data->>'placement' FROM events").fetchone()
        minutes = conn.execute("SELECT count(*), max(score) FROM activity_minute "
                               "WHERE device = %s", (PENDANT,)).fetchone()
    assert found[0][:4] == ("fall", "P1", PENDANT, world.resident)
    assert event == ("fall", "server", "waist")
    assert minutes is not None
    assert minutes[0] >= 2, "completed minutes of activity are stored"
    assert worker.counters["blocks"] == len(blocks)


def test_an_all_zero_stream_is_a_sensor_fault_not_a_fall(world: World) -> None:
    now = time.time()
    zeros = np.zeros((30 * 50, 3))
    worker = DetectorWorker()
    with world.connect() as conn:
        copy_acc_blocks(conn, [(b, now) for b in blocks_from(zeros, PENDANT, now - 30)])
        worker.tick(conn)
        found = alerts(conn)
    assert [(t, p) for t, p, _, _ in found] == [("sensor_fault", "P3")]


def test_a_sustained_high_heart_rate_opens_one_vital_sign_alert(world: World) -> None:
    now = time.time()
    readings = [VitalReading(ts=now - 600 + 10 * i, hr=150, contact=True) for i in range(50)]
    raised: set[tuple[int, str, float]] = set()
    with world.connect() as conn:
        copy_vitals(conn, [Vitals(gw=GATEWAY, device=PENDANT, readings=readings)])
        first = vitals_pass(conn, raised)
        again = vitals_pass(conn, raised)
        found = alerts(conn)
    assert len(first) == 1
    assert again == []
    # 高龄 + 独居 raise the P2 vital-sign alert to P1
    assert found == [("vitals", "P1", PENDANT, world.resident)]


def test_inactivity_prewarns_then_alarms(world: World) -> None:
    rules = InactivityRules(rules=(Rule("continuous_2h", 2.0),), sleep=None, prewarn_min=15)
    now_min = int(time.time() // 60)
    warned: list[tuple[str, int]] = []
    raised: set[tuple[int, str, int]] = set()
    with world.connect() as conn:
        set_gateway_state(conn, GATEWAY, "online", time.time())
        # the hall PIR (the cord here) saw someone until 105 minutes ago, then nothing
        copy_activity(conn, [ActivityMinute("rf-0a1b2c3e", (now_min - 105 - k) * 60, "pir", 1)
                             for k in range(60)])
        inactivity_pass(conn, now_min, raised, lambda gw, r: warned.append((gw, r)), rules)
        assert warned == [(GATEWAY, world.resident)]
        assert alerts(conn) == []
        touched = inactivity_pass(conn, now_min + 15, raised, None, rules)
        found = alerts(conn)
    assert len(touched) == 1
    assert found == [("inactivity", "P1", None, world.resident)]  # raised by 高龄 + 独居


def test_learned_limits_alarm_on_a_gap_the_rules_allow(world: World) -> None:
    """Three weeks of a PIR seeing someone every 10 minutes, day and night: the learned limit is
    the 90-minute floor, so 75 quiet minutes pre-warn and 90 raise an alarm, while the rules
    (here: 8 continuous hours) stay silent."""
    rules = InactivityRules(rules=(Rule("continuous_8h", 8.0),), sleep=None, prewarn_min=15)
    now_min = int(time.time() // 60)
    warned: list[tuple[str, int]] = []
    raised: set[tuple[int, str, int]] = set()
    with world.connect() as conn:
        set_gateway_state(conn, GATEWAY, "online", time.time())
        history = [ActivityMinute("rf-0a1b2c3e", (now_min - k) * 60, "pir", 1)
                   for k in range(101, 21 * 24 * 60) if (now_min - k) % 10 == 0]
        copy_activity(conn, history)
        assert fit_limits(conn, now_min) == 1
        row = conn.execute("SELECT limit_min, days_seen FROM inactivity_limits "
                           "WHERE resident_id = %s", (world.resident,)).fetchone()
        assert row is not None
        limits, days = row
        assert days >= MIN_DAYS
        assert set(limits) == {90}
        last = int(max(a.minute for a in history) // 60)  # seen for the last time
        inactivity_pass(conn, last + 76, raised, lambda gw, r: warned.append((gw, r)), rules)
        assert warned == [(GATEWAY, world.resident)]  # 15 min before the limit
        assert alerts(conn) == []
        touched = inactivity_pass(conn, last + 91, raised, None, rules)
        data = conn.execute("SELECT details FROM alerts WHERE type = 'inactivity'").fetchall()
        found = alerts(conn)
    assert len(touched) == 1
    assert found == [("inactivity", "P1", None, world.resident)]
    assert [d["rule"] for (d,) in data] == ["learned"]


def test_residents_with_little_history_are_judged_by_the_rules_alone(world: World) -> None:
    rules = InactivityRules(rules=(Rule("continuous_8h", 8.0),), sleep=None, prewarn_min=15)
    now_min = int(time.time() // 60)
    with world.connect() as conn:
        set_gateway_state(conn, GATEWAY, "online", time.time())
        history = [ActivityMinute("rf-0a1b2c3e", (now_min - k) * 60, "pir", 1)
                   for k in range(101, 5 * 24 * 60) if (now_min - k) % 10 == 0]
        copy_activity(conn, history)
        assert fit_limits(conn, now_min) == 0  # 5 days: fitted, not used
        last = int(max(a.minute for a in history) // 60)
        touched = inactivity_pass(conn, last + 91, set(), None, rules)
        assert touched == []
        assert alerts(conn) == []


def test_a_minutes_pir_count_includes_events_received_in_later_passes(world: World) -> None:
    minute = (int(time.time()) // 60 - 2) * 60

    def motion(n: int, second: int) -> Event:
        return Event(id=event_id(GATEWAY, INC, n), gw=GATEWAY, inc=INC, n=n, ts=minute + second,
                     device="rf-0a1b2c3e", type=EventType.MOTION)

    with world.connect() as conn:
        received = time.time()
        insert_events(conn, [motion(1, 5), motion(2, 20)], received)
        found, cursor = sensor_minutes(conn, received - 60)
        store_minutes(conn, found)
        insert_events(conn, [motion(3, 40)], received + 1)  # same minute, arrived later
        found, cursor = sensor_minutes(conn, cursor - 5)
        store_minutes(conn, found)
        found, cursor = sensor_minutes(conn, cursor - 5)  # a pass that sees part of it again
        store_minutes(conn, found)
        rows = conn.execute("SELECT source, count FROM activity_minute WHERE device = %s",
                            ("rf-0a1b2c3e",)).fetchall()
    assert rows == [("pir", 3)]
