"""The wearer's answers on real PostgreSQL: a fall cancelled by the wearer stays with the
operators (lower), an answered pre-warning is a closed record, an answer the server cannot
place is the panic it looks like, and a fall found by the server and an edge gateway is one
alert."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest

from kernel.contract import AFTER_S, ANSWERS, PROMPT, Event, EventType
from server.alerts import answers, engine, service
from server.alerts.machine import load
from server.alerts.model import Outcome, Priority, State
from server.alerts.queries import queue, summary, timeline
from server.detect.falls import FallWatch
from server.scope import ALL
from server.store import insert_events, insert_server_event
from tests.fixtures.ingest import make_event
from tests.fixtures.world import BUTTON, GATEWAY, PENDANT, World

_n = iter(range(1, 10**6))


def store(conn: psycopg.Connection[Any], etype: EventType, device: str = BUTTON,
          ts: float | None = None, **data: Any) -> tuple[Event, list[int]]:
    """One event as a gateway sends it, stored and run through the engine as ingest does."""
    event = make_event(GATEWAY, next(_n), etype, device)
    event = event.model_copy(update={"data": data, "ts": ts or event.ts})
    with conn.transaction():
        insert_events(conn, [event], time.time())
        return event, engine.on_events(conn, [event])


def server_fall(conn: psycopg.Connection[Any], t_impact: float, *,
                window: float | None = 30.0) -> tuple[Event, int]:
    """A fall the server's detector found (as ``FallWatch`` stores it)."""
    data: dict[str, Any] = {"confidence": 0.9, "placement": "waist", "t_impact": t_impact,
                            "t_decision": t_impact + 2}
    if window is not None:
        data["cancel_window_s"] = window
    with conn.transaction():
        event = insert_server_event(conn, GATEWAY, PENDANT, EventType.FALL, t_impact, data)
        (alert_id,) = engine.on_events(conn, [event])
    return event, alert_id


def answer(kind: str, prompt: str, after: float = 6.0, **more: Any) -> dict[str, Any]:
    return {ANSWERS: kind, PROMPT: prompt, AFTER_S: after, "input": "main", **more}


def actions(conn: psycopg.Connection[Any], alert_id: int) -> list[str]:
    return [e["action"] for e in timeline(conn, alert_id)]


def test_a_press_answering_the_fall_cancels_it_for_the_wearer_not_for_the_operators(
        world: World) -> None:
    with world.connect() as conn:
        fall, alert_id = server_fall(conn, time.time() - 3)
        service.prompt_wearer(conn, alert_id, device=PENDANT, window_s=30, via="server",
                              ref=fall.id)
        press, touched = store(conn, EventType.PRESS, **answer("fall", fall.id, 5.5))
        alert = load(conn, alert_id)
        row = summary(conn, alert_id)
        active = queue(conn, ALL)
        steps = actions(conn, alert_id)
        linked = {e["data"]["id"] for e in timeline(conn, alert_id) if e["kind"] == "event"}
        again = service.wearer_cancel(conn, alert_id, by="got_up", device=PENDANT, after_s=20)
    assert touched == [alert_id], "the press raised no panic"
    assert (alert.priority, alert.state, alert.outcome) == (Priority.P2, State.OPEN, None)
    assert [a["id"] for a in active] == [alert_id], "still in the queue: someone calls back"
    assert row is not None
    wearer = row["wearer"]
    assert (wearer["cancelled_by"], wearer["after_s"], wearer["cancel_device"]) == (
        "press", 5.5, BUTTON)
    assert wearer["ref"] == fall.id
    assert "prompt_wearer" in steps
    assert steps[-1] == "wearer_cancel"
    assert linked == {fall.id, press.id}, "the press is on the fall's timeline"
    assert again.priority == Priority.P2, "a second cancel is a note, nothing more"


def test_an_answer_the_server_cannot_place_is_a_panic(world: World) -> None:
    """Never lost: a press that says it answers a fall nobody knows, a long press (never an
    answer), and a pre-warning answer for a resident of another home all raise the panic."""
    with world.connect() as conn:
        _, unknown = store(conn, EventType.PRESS, **answer("fall", "srv:999999"))
        alert_id = unknown[0]
        _, long = store(conn, EventType.LONG_PRESS, **answer("fall", "srv:999999"))
        _, elsewhere = store(conn, EventType.PRESS, **answer("prewarn", "prewarn-x",
                                                             resident=world.resident + 1000))
        panic = load(conn, alert_id)
    assert (panic.type.value, panic.priority) == ("panic", Priority.P1)
    assert long == elsewhere == [alert_id], "the same panic incident, attached"


def test_an_answered_prewarning_is_a_closed_record_not_an_alarm(world: World) -> None:
    with world.connect() as conn:
        press, touched = store(conn, EventType.PRESS, **answer(
            "prewarn", "prewarn-abc", 42.0, resident=world.resident, rule="day_gap_3h",
            inactive_min=165))
        (record_id,) = touched
        record = load(conn, record_id)
        row = summary(conn, record_id)
        active = queue(conn, ALL)
        steps = actions(conn, record_id)
    assert active == [], "nothing for the operators to do"
    assert (record.type.value, record.state, record.outcome) == (
        "inactivity", State.CANCELLED, Outcome.CANCELLED_BY_RESIDENT.value)
    assert record.resident_id == world.resident
    assert record.priority == Priority.P3, "nothing urgent: it needs nobody"
    assert row is not None
    assert row["prewarning"]["priority"] == "P1", "the alarm would have been P1 (高龄 + 独居)"
    assert row["prewarning"]["after_s"] == 42.0
    assert row["prewarning"]["rule"] == "day_gap_3h"
    assert sorted(steps) == sorted(["open", "prompt_wearer", "press", "cancel"])
    assert press.ts == pytest.approx(row["prewarning"]["answered_at"])


def test_one_fall_found_by_the_gateway_and_the_server_is_one_alert(world: World) -> None:
    t = time.time() - 60
    with world.connect() as conn:
        edge, (alert_id,) = store(conn, EventType.FALL, PENDANT, ts=t + 3, t_impact=t,
                                  edge=True, cancel_window_s=30.0, confidence=0.9)
        found = answers.same_fall(conn, PENDANT, t + 0.04)
        server, again = server_fall(conn, t + 0.04, window=None)
        other, (later,) = store(conn, EventType.FALL, PENDANT, ts=t + 120, t_impact=t + 117,
                                edge=True)
        steps = actions(conn, alert_id)
        wearer = load(conn, alert_id).details["wearer"]
    assert found == alert_id
    assert again == alert_id, "the server's detection joins the gateway's alert"
    assert later == alert_id, "another fall while it is open attaches as before"
    assert steps.count("prompt_wearer") == 1, "the gateway asked the wearer itself"
    assert (wearer["via"], wearer["ref"]) == ("gateway", edge.id)
    assert "note" in steps  # "the same fall, detected by the server too"
    assert server.id != other.id


def test_a_resolved_fall_found_again_opens_nothing(world: World) -> None:
    t = time.time() - 30
    with world.connect() as conn:
        _, alert_id = server_fall(conn, t)
        service.auto_resolve(conn, alert_id, reason="test", note="closed")
        _, touched = store(conn, EventType.FALL, PENDANT, ts=t + 3, t_impact=t + 0.02,
                           edge=True)
        active = queue(conn, ALL)
    assert touched == [alert_id]
    assert active == []


def test_an_answer_stored_before_its_fall_still_cancels_it(world: World) -> None:
    """Events can arrive out of order: the gateway's got-up cancel first, then its fall."""
    t = time.time() - 40
    with world.connect() as conn:
        ref_n = next(_n)
        early = make_event(GATEWAY, next(_n), EventType.CANCEL, PENDANT)
        early = early.model_copy(update={"ts": t + 20, "data": answer(
            "fall", f"{GATEWAY}:7e57c0de0001:{ref_n}", 17.0, by="got_up")})
        with conn.transaction():
            insert_events(conn, [early], time.time())
            engine.on_events(conn, [early])
        fall = make_event(GATEWAY, ref_n, EventType.FALL, PENDANT).model_copy(update={
            "ts": t + 3, "data": {"t_impact": t, "edge": True, "cancel_window_s": 30.0}})
        with conn.transaction():
            insert_events(conn, [fall], time.time())
            (alert_id,) = engine.on_events(conn, [fall])
        alert = load(conn, alert_id)
    assert alert.priority == Priority.P2
    assert alert.details["wearer"]["cancelled_by"] == "got_up"


def test_the_server_asks_only_about_recent_falls_it_found_first(world: World) -> None:
    """A fall an edge gateway already reported, or one too old to cancel, is not asked about."""
    watch = FallWatch(cancel_s=30.0)
    from analytics.events import FallEvent
    from kernel.placement import Placement

    now = time.time()
    with world.connect() as conn:
        watch.refresh(conn)
        gateway = watch.wearables[PENDANT][0]
        with conn.transaction():
            watch._fall(conn, gateway, PENDANT,
                        FallEvent(PENDANT, now - 3, now - 1, Placement.WAIST, 0.9))
        asked = watch.take_outgoing()
        service.auto_resolve(conn, asked[0].alert_id or 0, reason="test", note="closed")
        with conn.transaction():
            watch._fall(conn, gateway, PENDANT,
                        FallEvent(PENDANT, now - 120, now - 118, Placement.WAIST, 0.9))
        late = watch.take_outgoing()
        store(conn, EventType.FALL, PENDANT, ts=now - 200, t_impact=now - 203, edge=True)
        with conn.transaction():
            watch._fall(conn, gateway, PENDANT,
                        FallEvent(PENDANT, now - 203.02, now - 201, Placement.WAIST, 0.9))
        edge_first = watch.take_outgoing()
    assert [(o.gateway, o.device, o.command.op.value) for o in asked] == [
        (GATEWAY, PENDANT, "alert_wearer")]
    assert asked[0].command.args["ref"] == asked[0].ref
    assert late == [], "too late to cancel"
    assert edge_first == [], "the gateway asked already"



def test_a_fall_and_its_answer_in_one_batch_cancel_once(world: World) -> None:
    """After an outage the gateway's fall and the press answering it arrive together."""
    t = time.time() - 20
    fall = make_event(GATEWAY, next(_n), EventType.FALL, PENDANT).model_copy(update={
        "ts": t + 3, "data": {"t_impact": t, "edge": True, "cancel_window_s": 30.0}})
    press = make_event(GATEWAY, next(_n), EventType.PRESS, BUTTON).model_copy(update={
        "ts": t + 9, "data": answer("fall", fall.id, 6.0)})
    with world.connect() as conn:
        with conn.transaction():
            insert_events(conn, [fall, press], time.time())
            touched = engine.on_events(conn, [fall, press])
        steps = actions(conn, touched[0])
        notes = [e["data"].get("reason") for e in timeline(conn, touched[0])
                 if e["action"] == "note"]
    assert touched == [touched[0]] * 2
    assert steps.count("wearer_cancel") == 1
    assert "wearer_cancel_again" not in notes
