"""Pure event building: frames → event drafts, drafts → contract payloads, RF repeats dropped."""

from __future__ import annotations

from pathlib import Path

from gateway.emitter import Emitter
from gateway.events import EventDraft, RfDedupe, frame_event
from gateway.outbox import Outbox
from hardware.frames import Frame, Input, MsgType, flag_data, input_data
from kernel.contract import Event, EventType, parse

UID = "rf-0a1b2c3d"


def frame(kind: MsgType, data: bytes, *, seq: int = 7, battery_mv: int = 2900) -> Frame:
    return Frame(kind, 0x0A1B2C3D, seq, -61, battery_mv, data)


def test_a_press_becomes_an_alarm_draft_with_its_radio_details() -> None:
    draft = frame_event(frame(MsgType.PRESS, input_data(Input.PULL_CORD)), UID)
    assert draft is not None
    assert (draft.type, draft.device, draft.dseq, draft.rssi, draft.battery_mv) == (
        EventType.PRESS, UID, 7, -61, 2900)
    assert draft.alarm
    assert draft.data == {"input": "pull_cord"}


def test_supervision_is_health_only_and_doors_are_open_or_closed() -> None:
    assert frame_event(frame(MsgType.SUPERVISION, bytes([1, 2])), UID) is None
    opened = frame_event(frame(MsgType.DOOR, flag_data(True)), UID)
    closed = frame_event(frame(MsgType.DOOR, flag_data(False)), UID)
    assert opened is not None
    assert closed is not None
    assert (opened.type, opened.data, closed.type) == (EventType.DOOR_OPEN, {},
                                                       EventType.DOOR_CLOSED)
    unknown_battery = frame_event(frame(MsgType.MOTION, bytes([3]), battery_mv=0), UID)
    assert unknown_battery is not None
    assert unknown_battery.battery_mv is None


def test_data_that_does_not_parse_never_costs_the_press() -> None:
    draft = frame_event(frame(MsgType.PRESS, b""), UID)
    assert draft is not None
    assert draft.type is EventType.PRESS
    assert "data_error" in draft.data


def test_a_draft_becomes_event_n_of_an_incarnation() -> None:
    draft = EventDraft(EventType.TEST, UID, data={"command": "c-1"})
    event = draft.payload("gw-home-0001", "0123456789ab", 42, 1767430000.5)
    assert event.id == "gw-home-0001:0123456789ab:42"
    assert (event.n, event.inc, event.ts, event.device) == (42, "0123456789ab", 1767430000.5, UID)
    assert not draft.alarm
    assert not event.is_alarm
    assert event.data == {"command": "c-1"}


def test_the_first_copy_within_the_window_counts_and_repeats_do_not_extend_it() -> None:
    dedupe = RfDedupe(10.0)
    assert dedupe.first(UID, 7, MsgType.PRESS, now=100.0)
    assert not dedupe.first(UID, 7, MsgType.PRESS, now=101.0)
    assert not dedupe.first(UID, 7, MsgType.PRESS, now=109.9)
    assert dedupe.first(UID, 7, MsgType.PRESS, now=110.0), "10 s after the first copy"
    assert dedupe.first(UID, 7, MsgType.CANCEL, now=110.5), "another type"
    assert dedupe.first(UID, 8, MsgType.PRESS, now=110.5), "another sequence number"
    assert dedupe.first("rf-deadbeef", 7, MsgType.PRESS, now=110.5), "another device"
    dedupe.forget_before(110.2)
    assert len(dedupe) == 3


def test_the_emitter_stores_before_it_tells(tmp_path: Path) -> None:
    from collections import Counter

    outbox = Outbox(tmp_path / "gw.sqlite3", clock=lambda: 1767430000.0)
    told: list[Event] = []

    def on_event(event: Event) -> None:
        assert outbox.stats().alarms == 1, "committed before anyone hears of it"
        told.append(event)

    counters: Counter[str] = Counter()
    emitter = Emitter("gw-home-0001", outbox, counters, clock=lambda: 1767430000.0,
                      on_event=on_event)
    n = emitter.emit(EventDraft(EventType.PRESS, UID, dseq=3))
    (item,) = outbox.due(10)
    stored = parse(Event, item.payload)
    assert stored == told[0]
    assert (stored.n, stored.inc, stored.dseq) == (n, outbox.incarnation, 3)
    assert counters["events_press"] == 1
    outbox.close()
