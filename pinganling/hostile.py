"""Hostile uplink messages for fuzzing the ingest (tests and ``bench/ingest_fuzz.py``).

Hypothesis strategies of every ``up/`` payload type — event, acc, vitals, heartbeat, status,
cmd_result — with a valid structure and hostile values (NUL and other characters PostgreSQL or
the contract refuse, numbers beyond their column, non-finite floats, absurd times, wrong types),
and of raw garbage. Needs ``hypothesis`` (the ``dev`` extra).

``POISON_SQL`` makes a test schema refuse a few values the contract lets through, so that a
message failing *in the database* can be produced on purpose: an event whose ``data`` has the
key ``poison``, an acc block of sequence number ``POISON_SEQ``, a vital-signs reading of heart
rate ``POISON_HR``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from pinganling.contract import ACC_HEADER, ALARM_TYPES, MAX_PAYLOAD_BYTES, EventType, Up

POISON_SEQ = 4242
POISON_HR = 299
POISON_SQL = f"""
CREATE FUNCTION refuse_poison_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.data ? 'poison' THEN
        RAISE EXCEPTION 'poison event %', NEW.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_poison_event BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_poison_event();
ALTER TABLE acc_blocks ADD CONSTRAINT poison_seq CHECK (seq <> {POISON_SEQ});
ALTER TABLE vitals ADD CONSTRAINT poison_hr CHECK (hr IS DISTINCT FROM {POISON_HR});
"""
ALARM_NAMES = frozenset(t.value for t in ALARM_TYPES)


@dataclass(frozen=True, slots=True)
class Case:
    """One message to publish on ``gateway``'s ``channel``; ``alarm``: it claims to be an
    alarm-type event (its JSON is an object whose ``type`` is press, long_press or fall), so
    it must raise an alert whether it can be stored or not."""

    gateway: str
    channel: Up
    payload: bytes
    kind: str

    @property
    def alarm(self) -> bool:
        return self.channel == Up.EVENT and claims_alarm(self.payload)


def claims_alarm(payload: bytes) -> bool:
    """Whether an event payload is a JSON object with an alarm ``type`` (the fuzz's oracle)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        return False
    try:
        obj = json.loads(payload.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return False
    return isinstance(obj, dict) and isinstance(obj.get("type"), str) and obj["type"] in ALARM_NAMES


BAD_TEXTS = ["\x00", "a\x00b", "\ud800", "x\udfff", "\ufffe", "\uffff", "\U0010ffff",
             "\ufdd0", "\U0001fffe", "", " ", "x" * 70, "'; DROP TABLE events; --", "中文",
             "\u202eevil", "\\u0000", "%s%n", "\r\n"]
BAD_INTS = [0, -1, 1, 2**15 - 1, 2**15, -(2**15) - 1, 2**31 - 1, 2**31, -(2**31) - 1,
            2**63 - 1, 2**63, -(2**63) - 1, 10**30]
BAD_FLOATS = [float("nan"), float("inf"), float("-inf"), 1e300, -1e300, 3.5e38, -0.0,
              7.3e9 + 1, 5e-324, 1.7e9]

texts = st.one_of(st.text(st.characters(codec=None, exclude_categories=()), max_size=12),
                  st.sampled_from(BAD_TEXTS))
ints = st.one_of(st.integers(-(2**70), 2**70), st.sampled_from(BAD_INTS))
floats = st.one_of(st.floats(), st.sampled_from(BAD_FLOATS))
scalars = st.one_of(texts, ints, floats, st.booleans(), st.none())
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(texts, inner, max_size=3), max_leaves=6)


def _rarely(draw: st.DrawFn, one_in: int) -> bool:
    """True about once in ``one_in`` draws. (Hypothesis favours the ends of a range, so the
    rare case is a value from its middle.)"""
    return draw(st.integers(0, one_in - 1)) == one_in // 2


def _paths(obj: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place inside a JSON value (dict keys, list indices), parents first."""
    found: list[tuple[Any, ...]] = []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(
        obj, list) else ()
    for key, value in items:
        found.append((*at, key))
        found += _paths(value, (*at, key))
    return found


def _encode(obj: Any, ascii_only: bool) -> bytes:
    """JSON as Python writes it (NaN, Infinity allowed); lone surrogates escaped, or written
    as raw (invalid) UTF-8."""
    return json.dumps(obj, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@st.composite
def hostile(draw: st.DrawFn, plausible: st.SearchStrategy[dict[str, Any]]) -> bytes:
    """A plausible payload with up to three of its values (at any depth) replaced by hostile
    ones or removed, sometimes an unexpected field added; as JSON."""
    obj = draw(plausible)
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(obj)
        if not paths:
            break
        *parent_path, key = draw(st.sampled_from(paths))
        parent = obj
        for step in parent_path:
            parent = parent[step]
        if isinstance(parent, dict) and _rarely(draw, 6):
            del parent[key]
        else:
            parent[key] = draw(st.one_of(scalars, scalars, scalars, json_values))
    if _rarely(draw, 16):
        obj[draw(texts)] = draw(scalars)
    return _encode(obj, draw(st.booleans()))


def _recent(now: float) -> st.SearchStrategy[float]:
    return st.floats(now - 86_400, now + 60)


def events(gateway: str, devices: list[str], now: float) -> st.SearchStrategy[bytes]:
    def with_id(obj: dict[str, Any]) -> dict[str, Any]:
        return {"id": f"{obj['gw']}:{obj['n']}", **obj}

    return hostile(st.fixed_dictionaries({
        "v": st.just(1), "gw": st.just(gateway), "n": st.integers(1, 2**62),
        "ts": _recent(now), "device": st.sampled_from(devices),
        "dseq": st.integers(0, 65535) | st.none(), "rssi": st.integers(-100, 0),
        "battery_mv": st.integers(2000, 3300) | st.none(),
        "type": st.sampled_from([t.value for t in EventType]),
        "data": st.dictionaries(st.sampled_from(["peak_g", "open", "note", "poison"]),
                                st.one_of(st.floats(0, 10), st.booleans(), st.just("x")),
                                max_size=2)}).map(with_id))


def vitals(gateway: str, devices: list[str], now: float) -> st.SearchStrategy[bytes]:
    reading = st.fixed_dictionaries({
        "ts": _recent(now), "hr": st.integers(40, 180) | st.just(POISON_HR),
        "contact": st.booleans(), "rr_ms": st.lists(st.floats(300, 2000), max_size=2),
        "spo2": st.floats(80, 100), "pulse": st.floats(40, 180)})
    return hostile(st.fixed_dictionaries({
        "v": st.just(1), "gw": st.just(gateway), "device": st.sampled_from(devices),
        "readings": st.lists(reading, min_size=1, max_size=3)}))


def heartbeats(gateway: str, devices: list[str], now: float) -> st.SearchStrategy[bytes]:
    device = st.fixed_dictionaries({
        "device": st.sampled_from(devices), "kind": st.just("wearable"),
        "last_seen": _recent(now), "rssi": st.integers(-100, 0),
        "battery_mv": st.integers(2000, 3300), "battery_pct": st.integers(0, 100)})
    return hostile(st.fixed_dictionaries({
        "v": st.just(1), "gw": st.just(gateway), "ts": _recent(now),
        "uptime_s": st.floats(0, 1e6), "interval_s": st.just(30.0),
        "outbox": st.fixed_dictionaries({"depth": st.integers(0, 100),
                                         "alarms": st.integers(0, 10),
                                         "oldest_s": st.floats(0, 100) | st.none(),
                                         "shed": st.integers(0, 5)}),
        "devices": st.lists(device, max_size=2),
        "heard_unpaired": st.lists(st.just("rf-99887766"), max_size=1),
        "counters": st.dictionaries(st.sampled_from(["frames", "crc"]), st.integers(0, 999),
                                    max_size=2),
        "config_rev": st.integers(0, 10)}))


def statuses(now: float) -> st.SearchStrategy[bytes]:
    return hostile(st.fixed_dictionaries({
        "v": st.just(1), "state": st.sampled_from(["online", "offline"]), "ts": _recent(now),
        "version": st.just("0.1.0")}))


def command_results() -> st.SearchStrategy[bytes]:
    return hostile(st.fixed_dictionaries({
        "v": st.just(1), "id": st.just("cmd-1"), "ok": st.booleans(), "detail": st.just(""),
        "data": st.dictionaries(st.sampled_from(["depth", "rssi"]), st.integers(0, 9),
                                max_size=2)}))


@st.composite
def acc_blocks(draw: st.DrawFn, devices: list[str], now: float) -> bytes:
    """A binary AccBlock: plausible header fields, up to three of them hostile (the uid bytes
    among them), sometimes cut short."""
    n = draw(st.integers(0, 60))
    uid = draw(st.sampled_from(devices)).encode()
    fields: list[Any] = [b"PA", 1, len(uid), int(draw(_recent(now)) * 1e6),
                         draw(st.integers(0, 2**20)), 1 / 256, 5000, n]
    bad = [st.binary(min_size=2, max_size=2), st.integers(0, 255), st.integers(0, 255),
           st.integers(-(2**63), 2**63 - 1) | st.sampled_from([-1, 2**62]),
           st.sampled_from([POISON_SEQ, 2**32 - 1, 0]), st.floats(width=32),
           st.integers(0, 65535), st.integers(0, 65535)]
    for _ in range(draw(st.integers(0, 3))):
        which = draw(st.integers(0, len(fields)))
        if which == len(fields):
            uid = draw(st.binary(max_size=70) | st.sampled_from(
                [b"ble-\x00bad", b"\xff\xfe\xfd", b"ble-\xed\xa0\x80x", b"ble-\xef\xbf\xbe"]))
            fields[2] = len(uid) % 256
        else:
            fields[which] = draw(bad[which])
    payload = ACC_HEADER.pack(*fields) + uid + draw(st.binary(min_size=6 * n, max_size=6 * n))
    if _rarely(draw, 10):
        payload = payload[: draw(st.integers(0, len(payload)))]
    return payload


def cases(gateways: list[str], devices: list[str], now: float,
          channels: tuple[Up, ...] = tuple(Up)) -> st.SearchStrategy[Case]:
    """One hostile message on one of ``channels``, or raw garbage; on the topic of the first of
    ``gateways`` (the one payloads name) 7 times in 8, else of any of them."""
    gw = gateways[0]
    payloads = {
        Up.EVENT: events(gw, devices, now), Up.ACC: acc_blocks(devices, now),
        Up.VITALS: vitals(gw, devices, now), Up.HEARTBEAT: heartbeats(gw, devices, now),
        Up.STATUS: statuses(now), Up.CMD_RESULT: command_results()}

    @st.composite
    def case(draw: st.DrawFn) -> Case:
        channel = draw(st.sampled_from(channels))
        topic_gw = draw(st.sampled_from(gateways)) if _rarely(draw, 8) else gateways[0]
        if _rarely(draw, 10):
            return Case(topic_gw, channel, draw(st.binary(max_size=300)), "garbage")
        return Case(topic_gw, channel, draw(payloads[channel]), channel.value)

    return case()
