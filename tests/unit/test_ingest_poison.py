"""What the database would refuse is refused at decode; poison is found by bisection; an
unreadable event is still read for what it claims to be; dead letters render safely."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.contract import (
    AccBlock,
    ContractError,
    Event,
    EventType,
    Heartbeat,
    Topics,
    Up,
    Vitals,
    parse,
)
from kernel.storable import escape_unstorable, json_problem, text_problem
from server.ingest.decode import Incoming, decode
from server.ingest.poison import Peek, isolate, peek_event
from server.store.dead_letters import render_payload
from tests.fixtures.hostile import BAD_TEXTS

GW = "gw-unit-0001"
EVENT = {"v": 1, "id": f"{GW}:1", "gw": GW, "n": 1, "ts": 1.7e9, "device": "rf-0a1b2c3d",
         "type": "press"}
HEARTBEAT = {"v": 1, "gw": GW, "ts": 1.7e9, "uptime_s": 1, "interval_s": 30,
             "outbox": {"depth": 0, "alarms": 0, "shed": 0}}
VITALS = {"v": 1, "gw": GW, "device": "ble-c82e470a1b2c", "readings": [{"ts": 1.7e9}]}


def refused(model: type[Event | Heartbeat | Vitals], obj: dict[str, object]) -> str:
    with pytest.raises(ContractError) as info:
        parse(model, json.dumps(obj).encode())
    return info.value.reason


@pytest.mark.parametrize(("change", "reason"), [
    ({"data": {"note": "a\x00b"}}, "bad_text"),
    ({"data": {"\x00": 1}}, "bad_text"),
    ({"data": {"note": "\ufffe"}}, "bad_text"),
    ({"device": "rf-\x00abc"}, "bad_text"),
    ({"id": "x\x00"}, "bad_text"),
    ({"data": {"x": float("inf")}}, "not_finite"),
    ({"data": {"x": 2**63}}, "out_of_range"),
    ({"n": 2**63}, "out_of_range"),
    ({"rssi": 2**15}, "out_of_range"),
    ({"battery_mv": 2**31}, "out_of_range"),
    ({"ts": 1e300}, "bad_time"),
    ({"ts": float("nan")}, "bad_time"),
    ({"ts": -1}, "bad_time"),
])
def test_events_the_database_would_refuse_are_refused_with_a_reason(
        change: dict[str, object], reason: str) -> None:
    assert refused(Event, {**EVENT, **change}) == reason


@pytest.mark.parametrize(("model", "obj", "reason"), [
    (Heartbeat, {**HEARTBEAT, "ts": 1e300}, "bad_time"),
    (Heartbeat, {**HEARTBEAT, "uptime_s": float("nan")}, "not_finite"),
    (Heartbeat, {**HEARTBEAT, "config_rev": 2**31}, "out_of_range"),
    (Heartbeat, {**HEARTBEAT, "counters": {"a\x00": 1}}, "bad_text"),
    (Heartbeat, {**HEARTBEAT, "devices": [{"device": "rf-0a1b2c3d", "kind": "x",
                                           "rssi": -99999}]}, "out_of_range"),
    (Heartbeat, {**HEARTBEAT, "devices": [{"device": "rf-0a1b2c3d", "kind": "x",
                                           "last_seen": 1e300}]}, "bad_time"),
    (Vitals, {**VITALS, "readings": [{"ts": 1.7e9, "rr_ms": [1e300]}]}, "out_of_range"),
    (Vitals, {**VITALS, "readings": [{"ts": float("inf")}]}, "bad_time"),
    (Vitals, {**VITALS, "device": "ble-\ud800"}, "malformed"),  # not even JSON, for pydantic
])
def test_telemetry_the_database_would_refuse_is_refused_with_a_reason(
        model: type[Heartbeat | Vitals], obj: dict[str, object], reason: str) -> None:
    assert refused(model, obj) == reason


def block(uid: bytes, t0_us: int = 1_700_000_000_000_000) -> bytes:
    good = AccBlock("ble-" + "x" * (len(uid) - 4), t0_us, 1, 50.0, 1 / 256,
                    np.zeros((2, 3), np.int16)).encode()
    return good.replace(b"ble-" + b"x" * (len(uid) - 4), uid)


@pytest.mark.parametrize(("payload", "reason"), [
    (block(b"ble-\x00abc"), "bad_text"),
    (block(b"ble-\xff\xfeab"), "bad_text"),  # not UTF-8
    (block(b"ble-\xed\xa0\x80a"), "bad_text"),  # an encoded surrogate: not UTF-8 either
    (block(b"ble-\xef\xbf\xbea"), "bad_text"),  # U+FFFE
    (block(b"ble-abcd", t0_us=2**62), "bad_time"),
    (block(b"ble-abcd", t0_us=-1), "bad_time"),
])
def test_acc_blocks_with_unstorable_uids_or_times_are_refused(payload: bytes,
                                                              reason: str) -> None:
    with pytest.raises(ContractError) as info:
        AccBlock.decode(payload)
    assert info.value.reason == reason
    assert AccBlock.decode(block(b"ble-abcd")).device == "ble-abcd"


@given(st.text(st.characters(codec=None, exclude_categories=())) | st.sampled_from(BAD_TEXTS))
def test_escaped_text_is_always_storable_and_clean_text_is_untouched(text: str) -> None:
    escaped = escape_unstorable(text)
    assert text_problem(escaped) is None
    assert (escaped == text) == (text_problem(text) is None)
    escaped.encode()  # no lone surrogate left


def test_json_problem_looks_at_every_depth() -> None:
    assert json_problem({"a": [1, {"b": [None, True, 1.5, "ok"]}]}) is None
    assert json_problem({"a": [1, {"b": ["x\x00"]}]}) == ("bad_text", "U+0000 at offset 1")
    assert json_problem([{"\ud800": 1}]) == ("bad_text", "U+D800 at offset 0")
    assert json_problem({"a": [float("nan")]}) == ("not_finite", "nan")
    assert json_problem({"a": -(2**63) - 1}) == ("out_of_range", "integer beyond int64")


@given(st.binary(max_size=300))
def test_raw_payloads_render_as_storable_text(payload: bytes) -> None:
    text = render_payload(payload)
    assert text_problem(text) is None
    text.encode()


def test_render_payload_escapes_nul_and_bad_bytes() -> None:
    assert render_payload(b'{"a":"\x00"}\xff') == '{"a":"\\u0000"}\\xff'
    assert render_payload(b"x" * 10, limit=4) == "xxxx…"


def test_decode_refuses_unknown_gateways_before_reading_the_payload() -> None:
    topics = Topics("u/v1")
    item = Incoming(topics.up("gw-other-0001", Up.EVENT), b"{garbage", 1, 1, 0.0, 0)
    with pytest.raises(ContractError) as info:
        decode(topics, item, known=lambda gw: gw == GW)
    assert info.value.reason == "unknown_gateway"


@pytest.mark.parametrize(("payload", "peek"), [
    (json.dumps({**EVENT, "data": {"x": "\x00"}}).encode(),
     Peek(EventType.PRESS, "rf-0a1b2c3d", 1)),
    (json.dumps({**EVENT, "type": "fall", "device": "rf-\x00", "n": 2**63}).encode(),
     Peek(EventType.FALL)),
    (b'{"type": "long_press", "n": 3, "ts": NaN', Peek()),  # cut short: not readable
    (b'{"type": "press", "n": true}', Peek(EventType.PRESS)),
    (b'{"type": "motion", "n": 7, "device": "rf-01020304"}',
     Peek(EventType.MOTION, "rf-01020304", 7)),
    (b'{"type": "siren"}', Peek()),
    (b'["press"]', Peek()),
    (b"\xff\xfe", Peek()),
    (b"[" * 60_000, Peek()),  # deeper than json.loads goes
])
def test_an_unstorable_event_is_read_for_its_type_device_and_number(payload: bytes,
                                                                     peek: Peek) -> None:
    assert peek_event(payload) == peek


def test_isolate_finds_each_poison_and_stores_everything_else_in_order() -> None:
    stored: list[int] = []

    def attempt(part: Sequence[int]) -> None:
        if any(x % 10 == 7 for x in part):
            raise ValueError(f"poison in {list(part)}")
        stored.extend(part)

    failed, attempts = isolate(list(range(40)), attempt)
    assert [x for x, _ in failed] == [7, 17, 27, 37]
    assert all(isinstance(exc, ValueError) for _, exc in failed)
    assert stored == [x for x in range(40) if x % 10 != 7]
    assert attempts < 40, "fewer attempts than one by one"
    assert isolate([1, 2, 3], lambda part: None) == ([], 1)
    assert isolate([], attempt) == ([], 0)


def test_isolate_never_gives_up_a_message_because_the_database_is_away() -> None:
    def away(part: Sequence[int]) -> None:
        raise psycopg.OperationalError("connection refused")

    with pytest.raises(psycopg.OperationalError):
        isolate([1, 2, 3], away)
