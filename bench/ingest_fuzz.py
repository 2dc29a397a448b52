"""Ingest fuzz: hostile uplink messages through the real ingest, genuine alarms interleaved; and
what poison events cost an alarm queued behind them, against the ingest's former
retry-then-drop writer, in the same run.

    .venv/bin/python bench/ingest_fuzz.py [--quick] [--json]

All on this box: a private Mosquitto, a fresh ``bench_<random>`` schema of the local ``test``
database (``PINGANLING_BENCH_DATABASE_URL`` for another; dropped at the end) holding a home, a
resident and her panic button on one gateway, a second gateway in the home for the fuzz, and
``tests.fixtures.hostile.POISON_SQL`` (a few values only the database refuses). Phases:

1. fuzz: ``python -m server.ingest.worker`` (one process: both writers and the alert engine,
   as the server runs it). Hypothesis draws the cases (``tests.fixtures.hostile.cases``: every
   ``up/`` payload type with hostile values at any depth, and raw garbage; 1 in 8 on the topic of
   a gateway nobody provisioned), published as gateways publish (QoS 1), a genuine press of the
   resident's button after every 20. Status messages are not the ingest's (the presence listener
   reads them): they go through the same decoder in this process. At the end a last press and a
   last acc block show that each writer's queue has drained; the worker is stopped (SIGTERM)
   and logs its counters; its persistent session is taken over to count what it left
   unacknowledged. Then the database is asked: every genuine press stored, acked and alerted;
   every alert explained (by a stored event of an alerting type, or an alarm-type dead letter);
   every alarm-type dead letter alerted.
2. head of line: K events the database refuses, then a genuine press, into an in-process
   worker: the real event writer (poison isolated at once) and the baseline, the event writer
   as it was before dead letters (a failing batch retried 3 times with the writer's 1-s pause
   after an error, then its events one by one, 3 times each, then dropped). Measured: from the
   press's arrival at the ingest (``events.received_at``) to its alert (``alert_audit``).
"""

from __future__ import annotations

import ast
import contextlib
import json
import logging
import os
import re
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as paho
import psycopg
from _common import ChildProcess, bench_broker, emit, parse_args
from hypothesis import HealthCheck, Phase, given, settings
from paho.mqtt.enums import CallbackAPIVersion
from psycopg.conninfo import make_conninfo

from kernel.contract import (
    AccBlock,
    ContractError,
    Event,
    EventType,
    Topics,
    Up,
    dump,
    event_id,
    parse,
)
from kernel.contract import Ack as AckMessage
from kernel.services.broker import BrokerAddress
from server.alerts.engine import EVENT_ALERTS
from server.ingest.decode import Incoming, decode
from server.ingest.poison import Peek
from server.ingest.worker import IngestWorker, WorkerConfig, alert_hook, dead_alarm_hook
from server.ingest.writers import EventWriter
from server.settings import Settings
from server.store import apply_migrations, schema_conninfo
from tests.fixtures.hostile import POISON_SQL, Case, cases, claims_alarm

DB_URL = os.environ.get("PINGANLING_BENCH_DATABASE_URL", "host=127.0.0.1 port=5432 dbname=test")
GW = "gw-fuzz-home-01"  # the resident's gateway: genuine presses
INC = "f0220000beef"  # the fake gateways' incarnation
FUZZ_GW = "gw-fuzz-0001"  # same home, provisioned: the fuzz publishes as it
STRANGER = "gw-stranger-01"  # not provisioned
BUTTON, CORD, PENDANT = "rf-0a1b2c3d", "rf-0a1b2c3e", "ble-c82e470a1b2c"
DEVICES = [BUTTON, CORD, PENDANT, "ble-c82e470a1b99"]
SENTINEL = f"ble-{secrets.token_hex(6)}"  # made at run time: Hypothesis draws the constants
# it finds in the source, so the fuzz could use any uid written here
GENUINE_EVERY = 20
ALERTING = sorted(t.value for t in EVENT_ALERTS)
ALARMS = sorted(t.value for t in (EventType.PRESS, EventType.LONG_PRESS, EventType.FALL))
_CLIENT_ID = re.compile(r"ingest (\S+) connected to ")


@dataclass(frozen=True, slots=True)
class Plan:
    cases: int
    baseline_poisons: int
    poisons: int = 20
    drain_s: float = 60.0


QUICK = Plan(cases=1_500, baseline_poisons=3)
FULL = Plan(cases=10_000, baseline_poisons=10)


class Db:
    """The run's schema: migrated as ``PINGANLING_STORAGE_BACKEND`` says, a home with a
    resident and her devices, the poison constraints; dropped at the end."""

    def __init__(self, stack: ExitStack) -> None:
        self.schema = f"bench_{secrets.token_hex(4)}"
        with psycopg.connect(DB_URL, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {self.schema}")
        stack.callback(self.drop)
        self.conninfo = schema_conninfo(DB_URL, self.schema)
        with psycopg.connect(self.conninfo) as conn:
            apply_migrations(conn, Settings().storage_backend)
        self.conn = psycopg.connect(self.conninfo, autocommit=True)
        stack.callback(self.conn.close)
        q = self.conn.execute
        region = self.one("INSERT INTO regions (name, level) VALUES ('街道', '街道') RETURNING id")
        self.home = self.one("INSERT INTO homes (region_id, address) VALUES (%s, '幸福路 8 号')"
                             " RETURNING id", region)
        resident = self.one("INSERT INTO residents (home_id, name) VALUES (%s, '王秀英')"
                            " RETURNING id", self.home)
        for gw in (GW, FUZZ_GW):
            q("INSERT INTO gateways (id, home_id) VALUES (%s, %s)", (gw, self.home))
        for uid, model, kind, who in ((BUTTON, "PB-433", "panic_button", resident),
                                      (CORD, "PC-433", "pull_cord", None),
                                      (PENDANT, "WP-BLE", "wearable", resident)):
            q("INSERT INTO devices (uid, gateway_id, model, kind, resident_id)"
              " VALUES (%s, %s, %s, %s, %s)", (uid, GW, model, kind, who))
        q(POISON_SQL)

    def one(self, query: str, *args: object) -> Any:
        row = self.conn.execute(query, args).fetchone()
        return row[0] if row else None

    def all(self, query: str, *args: object) -> list[tuple[Any, ...]]:
        return self.conn.execute(query, args).fetchall()

    def drop(self) -> None:
        with psycopg.connect(DB_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")


class Gateways:
    """Publishes as gateways do (QoS 1) and records the server's application acks."""

    def __init__(self, broker: BrokerAddress, topics: Topics) -> None:
        self.topics = topics
        self.acked: dict[str, set[int]] = {}
        self._lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        broker.apply(self.client).connect(broker.host, broker.port)
        self.client.subscribe(f"{topics.root}/gw/+/down/ack", qos=1)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("no SUBACK for the ack subscription")

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        gw, _ = self.topics.parse(msg.topic)
        ids = parse(AckMessage, bytes(msg.payload)).ids
        with self._lock:
            self.acked.setdefault(gw, set()).update(ids)

    def has_ack(self, gw: str, n: int) -> bool:
        with self._lock:
            return n in self.acked.get(gw, set())

    def raw(self, gw: str, channel: Up, payload: bytes) -> None:
        self.client.publish(self.topics.up(gw, channel), payload, qos=1)

    def event(self, gw: str, n: int, device: str = BUTTON, etype: EventType = EventType.PRESS,
              **data: Any) -> None:
        event = Event(id=event_id(gw, INC, n), gw=gw, inc=INC, n=n, ts=time.time(),
                      device=device, dseq=n % 65536, type=etype, data=data)
        self.raw(gw, Up.EVENT, dump(event))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait(condition: Callable[[], object], timeout: float, what: str) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            print(f"timed out after {timeout:g} s waiting for {what}", file=sys.stderr)
            return False
        time.sleep(0.02)
    return True


def leftovers(broker: BrokerAddress, topics: Topics, client_id: str) -> int:
    """Messages still queued in the stopped worker's session: taken over, counted and PUBACKed
    until a marker published after the take-over comes through (the broker delivers a session's
    messages in order)."""
    seen, done = Counter[str](), threading.Event()
    marker = topics.up(STRANGER, Up.EVENT)
    token = secrets.token_bytes(8)

    def on_message(_c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        if msg.topic == marker and msg.payload == token:
            done.set()
        else:
            seen["left"] += 1

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.on_message = on_message
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    broker.apply(client).connect(broker.host, broker.port, clean_start=False)
    client.loop_start()
    try:
        if not connected.wait(10):
            raise RuntimeError("could not take over the worker's session")
        client.publish(marker, token, qos=1)
        if not done.wait(30):
            raise RuntimeError("the marker never came through the worker's session")
    finally:
        client.disconnect()
        client.loop_stop()
    return seen["left"]


def fuzz(plan: Plan, db: Db, broker: BrokerAddress, topics: Topics, tmp: Path,
         stack: ExitStack) -> dict[str, Any]:
    """Phase 1; see the module's docstring."""
    os.environ.update({"PINGANLING_MQTT_HOST": broker.host,
                       "PINGANLING_MQTT_PORT": str(broker.port),
                       "PINGANLING_MQTT_USERNAME": broker.username or "",
                       "PINGANLING_MQTT_PASSWORD": broker.password or "",
                       "PINGANLING_MQTT_ROOT": topics.root,
                       "PINGANLING_INGEST_GROUP": f"fuzz-{secrets.token_hex(3)}"})
    worker = ChildProcess(["-m", "server.ingest.worker", "--index", "0", "--conninfo",
                           make_conninfo(db.conninfo, application_name="bench-fuzz")],
                          tmp / "worker.log").start()
    stack.callback(worker.stop)
    if not wait(lambda: worker.logged("connected to") or not worker.alive(), 30,
                "the worker") or not worker.alive():
        raise RuntimeError(f"the worker did not start:\n{worker.output()[-2000:]}")
    match = _CLIENT_ID.search(worker.output())
    assert match is not None
    client_id = match.group(1)
    pub = Gateways(broker, topics)
    stack.callback(pub.close)
    stats: Counter[str] = Counter()
    genuine: list[int] = []
    start = time.monotonic()

    @settings(max_examples=plan.cases, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(cases([FUZZ_GW, STRANGER], DEVICES, time.time()))
    def one(case: Case) -> None:
        stats["cases"] += 1
        stats[f"cases_{case.channel.value}"] += 1
        try:
            decode(topics, Incoming(topics.up(case.gateway, case.channel), case.payload, 0, 1,
                                    time.time(), 0))
            stats["decoded"] += 1
        except ContractError as exc:
            stats[f"refused_{exc.reason}"] += 1
        except Exception:  # noqa: BLE001 — the decoder must never do this: count it as a crash
            stats["decoder_crashes"] += 1
        if case.channel != Up.STATUS:
            pub.raw(case.gateway, case.channel, case.payload)
            stats["published"] += 1
            stats["alarm_cases"] += case.alarm and case.gateway == FUZZ_GW
        if stats["cases"] % GENUINE_EVERY == 0:
            genuine.append(len(genuine) + 1)
            pub.event(GW, genuine[-1])
            stats["published"] += 1

    one()
    generated_s = time.monotonic() - start
    last = len(genuine) + 1  # the sentinels: both writers' queues have drained when they are in
    pub.event(GW, last)
    pub.raw(GW, Up.ACC, _sentinel_block())
    stats["published"] += 2
    sentinel = "SELECT count(*) FROM acc_blocks WHERE device = %s"
    drained = wait(lambda: pub.has_ack(GW, last) and db.one(sentinel, SENTINEL) == 1,
                   plan.drain_s, "the drain")
    fuzz_s = time.monotonic() - start
    if not drained:
        print(f"last press acked: {pub.has_ack(GW, last)}, sentinel blocks: "
              f"{db.one(sentinel, SENTINEL)}; the worker's log ends:\n"
              f"{worker.output()[-3000:]}", file=sys.stderr)
    crashed = not worker.alive()
    worker.stop()
    logged = [x for x in worker.output().splitlines() if "counters {" in x]
    counters: dict[str, int] = ast.literal_eval(logged[-1].split("counters ", 1)[1]) if (
        logged) else {}
    left = leftovers(broker, topics, client_id)
    genuine.append(last)
    return {**_verdict(db, pub, genuine, counters, stats, crashed or not logged, left, drained),
            "fuzz_s": round(fuzz_s, 1), "generated_per_s": round(stats["cases"] / generated_s),
            "traceback_in_worker_log": "Traceback" in worker.output()}


def _sentinel_block() -> bytes:
    return AccBlock(SENTINEL, int(time.time() * 1e6), 1, 50.0, 1 / 256,
                    np.zeros((50, 3), np.int16)).encode()


def _verdict(db: Db, pub: Gateways, genuine: list[int], counters: dict[str, int],
             stats: Counter[str], crashed: bool, left: int, drained: bool) -> dict[str, Any]:
    alerted = {n for (n,) in db.all(
        "SELECT e.n FROM events e WHERE e.gateway_id = %s AND e.type = 'press' AND EXISTS ("
        " SELECT 1 FROM alert_events ae WHERE ae.event_id = e.id)", GW)}
    lost = [n for n in genuine if n not in alerted or not pub.has_ack(GW, n)]
    unexplained = db.one(
        "SELECT count(*) FROM alerts a WHERE NOT EXISTS ("
        " SELECT 1 FROM alert_events ae JOIN events e ON e.id = ae.event_id"
        " WHERE ae.alert_id = a.id AND e.type = ANY (%s))"
        " AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.alert_id = a.id)", ALERTING)
    silent = db.one("SELECT count(*) FROM events e WHERE e.type = ANY (%s) AND NOT EXISTS ("
                    " SELECT 1 FROM alert_events ae WHERE ae.event_id = e.id)", ALARMS)
    letters = db.all("SELECT channel, gateway_id, payload, alert_id FROM dead_letters")
    wrong = sum((alert is not None) != (ch == "event" and gw == FUZZ_GW
                                         and claims_alarm(bytes(payload)))
                for ch, gw, payload, alert in letters)
    stuck = left + max(0, counters.get("messages_in", 0) - counters.get("messages_acked", 0))
    crashes = (int(crashed) + counters.get("writer_errors", 0) + stats["decoder_crashes"]
               + counters.get("telemetry_dropped", 0) + counters.get("rejected_writer_error", 0))
    return {
        "cases": stats["cases"], "published": stats["published"],
        "cases_by_channel": {k[6:]: v for k, v in sorted(stats.items())
                             if k.startswith("cases_")},
        "decoded_share": round(stats["decoded"] / max(1, stats["cases"]), 3),
        "crashes": crashes, "stuck": stuck if drained else max(stuck, 1),
        "session_leftovers": left, "alarms": len(genuine), "alarms_lost": len(lost),
        "alerts_from_non_alarms": unexplained, "stored_alarms_without_alert": silent,
        "dead_letters": len(letters), "dead_letters_misalerted": wrong,
        "alarm_cases": stats["alarm_cases"],
        "dead_letter_alerts": sum(a is not None for *_, a in letters),
        "messages_in": counters.get("messages_in", 0),
        "messages_acked": counters.get("messages_acked", 0),
        "rejected": {k[9:]: v for k, v in sorted(counters.items()) if k.startswith("rejected_")},
        "store_failed": counters.get("store_failed", 0),
        "isolated_batches": counters.get("isolated_batches", 0),
        "events_stored": counters.get("events_stored", 0),
        "telemetry_rows": sum(v for k, v in counters.items() if k.endswith("_rows")),
    }


class RetryThenDrop(EventWriter):
    """The baseline: the event writer as it was before dead letters. A batch that fails is
    retried after the writer's 1-s pause, 3 times; then its events one by one, 3 times each;
    then the event is dropped (PUBACK, no application ack: its gateway keeps it)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.singles: list[Incoming] = []

    def step(self) -> None:
        if not self.batch:
            self.batch = [self.singles.pop(0)] if self.singles else self.take(500, timeout=0.2)
            self.failures = 0
        if not self.batch:
            return
        if self.failures >= 3:
            if len(self.batch) > 1:
                self.singles.extend(self.batch)
            else:
                self.reject(self.batch[0], "store_error", "failed to store 3 times")
            self.batch = []
            return
        self.failures += 1
        decoded, refused = self.decode_all(self.batch)
        self.acknowledge(x.item for x in refused)
        entries = [(item, value) for item, _, value in decoded if isinstance(value, Event)]
        if entries:
            self._insert(entries)  # raises on a poison event: the writer pauses 1 s, retries
        self.acknowledge([item for item, _ in entries], [(e.gw, Peek.of(e)) for _, e in entries])
        self.batch = []


def head_of_line(db: Db, broker: BrokerAddress, topics: Topics, poisons: int, first_n: int,
                 baseline: bool) -> dict[str, Any]:
    """Phase 2 for one writer: ``poisons`` events the database refuses, then a press."""
    config = WorkerConfig(broker, topics, db.conninfo, group=f"hol-{secrets.token_hex(3)}",
                          max_age_s=0.05)
    worker = IngestWorker(config, on_events=alert_hook(), on_dead_alarm=dead_alarm_hook())
    if baseline:
        w = worker.event_writer
        worker.event_writer = RetryThenDrop(w.name, db.conninfo, w.source, worker.client, topics,
                                            worker.stop_event, on_events=alert_hook())
    worker.start()
    pub = Gateways(broker, topics)
    try:
        if not worker.client.connected.wait(10):
            raise RuntimeError("in-process worker did not connect")
        start = time.monotonic()
        for i in range(poisons):
            pub.event(GW, first_n + i, CORD, EventType.MOTION, poison=True)
        press = first_n + poisons
        pub.event(GW, press)
        acked = wait(lambda: pub.has_ack(GW, press), 20 + 5 * poisons, "the press's ack")
        acked_s = time.monotonic() - start
    finally:
        pub.close()
        worker.stop()
    waited = db.one(
        "SELECT extract(epoch FROM min(au.ts) - min(e.received_at))::float8 FROM events e"
        " JOIN alert_audit au ON au.data->>'event' = e.id WHERE e.id = %s",
        event_id(GW, INC, press))
    # the fuzz publishes on the other gateways: these are this phase's
    kept = db.one("SELECT count(*) FROM dead_letters WHERE gateway_id = %s", GW)
    return {"press_wait_s": None if waited is None else round(waited, 3),
            "press_acked_s": round(acked_s, 3) if acked else None,
            "dead_letters": kept}


def main() -> int:
    args = parse_args(__doc__.splitlines()[0] if __doc__ else "")
    plan = QUICK if args.quick else FULL
    logging.basicConfig(level=logging.CRITICAL)  # the in-process writers' logs are noise here
    began = time.monotonic()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-fuzz-")))
        broker = bench_broker(tmp / "broker").start()
        stack.callback(broker.stop)
        db = Db(stack)
        topics = Topics(f"bench-{secrets.token_hex(3)}/v1")
        result = fuzz(plan, db, broker.address, topics, tmp, stack)
        real = head_of_line(db, broker.address, topics, plan.poisons, 1_000_000, False)
        naive = head_of_line(db, broker.address, topics, plan.baseline_poisons, 2_000_000, True)
    per = (real["press_wait_s"] or 0) / plan.poisons
    naive_per = (naive["press_wait_s"] or 0) / plan.baseline_poisons
    result.update({
        "poisons": plan.poisons, "press_wait_s": real["press_wait_s"],
        "press_acked_s": real["press_acked_s"],
        "poisons_dead_lettered": real["dead_letters"],
        "cost_per_poison_ms": round(per * 1000, 2),
        "baseline_poisons": plan.baseline_poisons,
        "baseline_press_wait_s": naive["press_wait_s"],
        "baseline_press_acked_s": naive["press_acked_s"],
        "baseline_cost_per_poison_ms": round(naive_per * 1000, 1),
        "ratio": round(naive_per / per, 1) if per > 0 else None,
        "took_s": round(time.monotonic() - began, 1)})
    ok = (result["crashes"] == 0 and result["stuck"] == 0 and result["alarms_lost"] == 0
          and result["alerts_from_non_alarms"] == 0 and result["dead_letters_misalerted"] == 0)
    lines = [
        f"fuzz: {result['cases']} cases ({result['published']} published, "
        f"{result['decoded_share']:.0%} decodable) in {result['fuzz_s']} s",
        f"  crashes {result['crashes']}, stuck {result['stuck']}, genuine alarms "
        f"{result['alarms']} of which lost {result['alarms_lost']}, alerts from non-alarm "
        f"input {result['alerts_from_non_alarms']}",
        f"  dead letters {result['dead_letters']} ({result['dead_letter_alerts']} alerted, "
        f"{result['alarm_cases']} alarm-type cases), store_failed {result['store_failed']}, "
        f"isolated batches {result['isolated_batches']}",
        f"  refused at decode: {json.dumps(result['rejected'])}",
        f"head of line: a press behind {plan.poisons} poison events waited "
        f"{result['press_wait_s']} s ({result['cost_per_poison_ms']} ms per poison); "
        f"baseline behind {plan.baseline_poisons}: {result['baseline_press_wait_s']} s "
        f"({result['baseline_cost_per_poison_ms']} ms per poison), ratio {result['ratio']}×",
        "OK" if ok else "FAILED: see the figures above",
        f"took {result['took_s']} s"]
    emit(result, lines, args.json)
    return 0 if ok else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
