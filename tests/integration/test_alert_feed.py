"""The change feed never hands out a change out of order or skips one still committing."""

from __future__ import annotations

import time

from kernel.contract import EventType
from server.alerts import engine
from server.alerts.feed import changes_since, record_change, safe_head
from server.store import insert_events
from tests.fixtures.ingest import make_event
from tests.fixtures.world import BUTTON, GATEWAY, World


def open_alert(world: World, n: int) -> int:
    with world.connect() as setup, setup.transaction():
        event = make_event(GATEWAY, n, EventType.PRESS, BUTTON)
        insert_events(setup, [event], time.time())
        (alert_id,) = engine.on_events(setup, [event])
    return alert_id


def test_a_later_change_waits_for_an_earlier_one_still_committing(world: World) -> None:
    alert_id = open_alert(world, 1)
    with world.connect() as a, world.connect() as b, world.connect() as reader:
        start = safe_head(reader)
        tx = a.transaction()
        tx.__enter__()
        slow = record_change(a, alert_id, "note")  # taken first, committed last
        fast = record_change(b, alert_id, "note")  # b is autocommit: visible at once
        assert fast > slow
        assert changes_since(reader, start) == [], "not past the uncommitted lower number"
        assert safe_head(reader) == start
        tx.__exit__(None, None, None)
        assert [c["seq"] for c in changes_since(reader, start)] == [slow, fast]


def test_a_rolled_back_number_is_skipped_after_the_grace_period(world: World) -> None:
    alert_id = open_alert(world, 2)
    with world.connect() as a, world.connect() as b, world.connect() as reader:
        start = safe_head(reader)
        tx = a.transaction()
        tx.__enter__()
        record_change(a, alert_id, "note")
        fast = record_change(b, alert_id, "note")
        try:
            raise RuntimeError("roll back")
        except RuntimeError as exc:
            tx.__exit__(RuntimeError, exc, None)
        assert changes_since(reader, start) == []
        b.execute("UPDATE alert_changes SET ts = ts - interval '1 minute' WHERE seq = %s",
                  (fast,))
        assert [c["seq"] for c in changes_since(reader, start)] == [fast]
