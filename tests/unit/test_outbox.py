"""The durable outbox: numbering, ordering, acks, shedding, surviving a reopen."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gateway.outbox import SCHEMA, Kind, Outbox
from kernel.contract import INCARNATION_RE, Up


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(path: Path, **kw: object) -> tuple[Outbox, Clock]:
    clock = Clock()
    return Outbox(path / "gw.sqlite3", clock=clock, **kw), clock  # type: ignore[arg-type]


def test_numbers_are_monotonic_and_survive_reopen(tmp_path: Path) -> None:
    box, _ = make(tmp_path)
    first = [box.add_event(lambda n: f"e{n}".encode(), alarm=True) for _ in range(3)]
    box.acked(first)  # all forgotten
    box.close()
    box, _ = make(tmp_path)
    n = box.add_event(lambda n: b"x", alarm=False)
    assert first == [1, 2, 3]
    assert n == 4, "an acknowledged and deleted number must never be reused"


def test_the_incarnation_is_made_with_the_state_and_kept(tmp_path: Path) -> None:
    box, _ = make(tmp_path)
    inc = box.incarnation
    assert INCARNATION_RE.match(inc)
    box.close()
    box, _ = make(tmp_path)
    assert box.incarnation == inc, "the same state: the same incarnation"
    box.close()
    (tmp_path / "gw.sqlite3").unlink()
    box, _ = make(tmp_path)
    assert box.incarnation != inc, "a new state (wiped, replaced): a new incarnation"
    assert box.add_event(lambda n: b"x", alarm=True) == 1


def test_acks_of_another_incarnation_are_not_this_states(tmp_path: Path) -> None:
    box, _ = make(tmp_path)
    box.add_event(lambda n: b"x", alarm=True)
    assert box.owns(box.incarnation, 1)
    assert not box.owns("0123456789ab", 1), "the previous state's ack for its own number 1"
    assert not box.owns(None, 1), "a fresh state has no legacy rows"


def test_an_outbox_from_before_incarnations_keeps_its_numbers_and_legacy_acks(
        tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    old = sqlite3.connect(path)  # the schema as it was, with two events waiting
    old.executescript(SCHEMA.split("CREATE TABLE IF NOT EXISTS identity")[0])
    old.executemany("INSERT INTO outbox (kind, channel, payload, created) VALUES (0, ?, ?, 0)",
                    [("event", b"legacy 1"), ("event", b"legacy 2")])
    old.commit()
    old.close()
    box, _ = make(tmp_path)
    assert box.legacy_upto == 2
    assert box.owns(None, 2), "an ack without incarnation is for the rows sent without one"
    assert not box.owns(None, 3)
    assert box.add_event(lambda n: b"new", alarm=True) == 3
    assert box.owns(box.incarnation, 3)
    box.close()
    box, _ = make(tmp_path)
    assert box.legacy_upto == 2, "kept"


def test_payload_is_built_with_its_number(tmp_path: Path) -> None:
    box, _ = make(tmp_path)
    box.add_telemetry([(Up.ACC, b"t")])
    n = box.add_event(lambda n: f"id={n}".encode(), alarm=True)
    (item,) = [i for i in box.due(10) if i.kind == Kind.ALARM]
    assert item.payload == f"id={n}".encode()


def test_alarms_go_first_then_events_then_telemetry(tmp_path: Path) -> None:
    box, _ = make(tmp_path)
    box.add_telemetry([(Up.ACC, b"t1"), (Up.VITALS, b"t2")])
    e = box.add_event(lambda n: b"e", alarm=False)
    a = box.add_event(lambda n: b"a", alarm=True)
    assert [i.n for i in box.due(10)][:2] == [a, e]
    assert [i.kind for i in box.due(10)] == [Kind.ALARM, Kind.EVENT, Kind.TELEMETRY, Kind.TELEMETRY]


def test_events_stay_until_acked_and_are_resent_with_backoff(tmp_path: Path) -> None:
    box, clock = make(tmp_path, resend_initial_s=2.0, resend_max_s=60.0)
    n = box.add_event(lambda n: b"a", alarm=True)
    (item,) = box.due(10)
    box.mark_sent([item])
    assert box.due(10) == []
    clock.t += 3.0  # past 2 s ± 20 %
    (again,) = box.due(10)
    assert again.n == n
    assert again.attempts == 1
    box.mark_sent([again])
    clock.t += 3.0  # the second wait is 4 s ± 20 %: not yet
    assert box.due(10) == []
    assert box.acked([n]) == 1
    clock.t += 100
    assert box.due(10) == []
    assert box.stats().depth == 0


def test_telemetry_leaves_on_puback_but_acks_do_not_delete_it(tmp_path: Path) -> None:
    box, _ = make(tmp_path)
    box.add_telemetry([(Up.ACC, b"t")])
    (t,) = box.due(10)
    assert box.acked([t.n]) == 0, "a server ack names events only"
    box.telemetry_published([t.n])
    assert box.stats().depth == 0


def test_telemetry_is_shed_oldest_first_and_alarms_never(tmp_path: Path) -> None:
    box, _ = make(tmp_path, max_telemetry=5)
    alarms = [box.add_event(lambda n: b"a", alarm=True) for _ in range(20)]
    box.add_telemetry([(Up.ACC, f"t{i}".encode()) for i in range(8)])
    box.add_telemetry([(Up.ACC, b"t8"), (Up.ACC, b"t9")])
    st = box.stats()
    assert (st.alarms, st.telemetry, st.shed) == (20, 5, 5)
    kept = [i.payload for i in box.due(100) if i.kind == Kind.TELEMETRY]
    assert kept == [b"t5", b"t6", b"t7", b"t8", b"t9"]
    assert box.pending_numbers(Kind.ALARM) == alarms
    box.close()
    box, _ = make(tmp_path, max_telemetry=5)
    assert box.stats().shed == 5, "the shed count is reported across restarts"


def test_reconnect_makes_everything_due_again(tmp_path: Path) -> None:
    box, _ = make(tmp_path)
    n = box.add_event(lambda n: b"a", alarm=True)
    box.mark_sent(box.due(10))
    assert box.due(10) == []
    box.resend_all_now()
    assert [i.n for i in box.due(10)] == [n]


def test_slow_acks_stretch_the_resend_timer_instead_of_flooding(tmp_path: Path) -> None:
    box, clock = make(tmp_path, resend_initial_s=2.0, resend_max_s=60.0)
    for _ in range(30):
        box.observe_ack_delay(5.0)  # the server acks after 5 s
    box.add_event(lambda n: b"a", alarm=True)
    box.mark_sent(box.due(10))
    clock.t += 10.0  # would have been resent after 2 s
    assert box.due(10) == []
    clock.t += 15.0  # 4 × ~5 s ± 20 %
    assert len(box.due(10)) == 1


def test_many_vital_readings_travel_in_several_messages() -> None:
    from kernel.contract import MAX_READINGS, VitalReading, Vitals

    readings = [VitalReading(ts=float(i), hr=70) for i in range(2 * MAX_READINGS + 5)]
    batches = Vitals.batches("gw-test-0001", "ble-c82e470a1b2c", readings)
    assert [len(b.readings) for b in batches] == [MAX_READINGS, MAX_READINGS, 5]
    assert [r for b in batches for r in b.readings] == readings
