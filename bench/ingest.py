"""Ingest throughput: simulated gateways → Mosquitto → ingest workers → PostgreSQL, and a naive
ingest (one INSERT + commit per message) under the same kind of load, in the same run.

    .venv/bin/python bench/ingest.py [--quick] [--json] [--profile]

All on this box: a private Mosquitto, the local PostgreSQL (a fresh ``bench_<random>`` schema of
database ``test``, dropped at the end; ``PINGANLING_BENCH_DATABASE_URL`` for another), the load
generator (``ingest_load.py``, 2 processes) and the ingest (``python -m server.ingest.worker``,
default batch settings). Phases:

1. ceiling: the generator alone against the broker (nobody subscribed); the full run also
   measures a paho publisher, for comparison;
2. ingest: 2 workers (the full run adds 1 worker, 2 workers under 16,000 wearables to find the
   box's ceiling, and 2 more with py-spy on one of them with ``--profile``) under 10,000
   wearables (an AccBlock per second each, vitals every 10 s, an
   event per gateway every 100 s), QoS 1. What PostgreSQL commits is counted at the edges of
   the steady window; then the backlog drains, the workers stop, and every message the broker
   PUBACKed is looked up: in PostgreSQL (acc blocks by (device, seq), events by id, and the
   events' application acks), else in the workers' sessions in the broker (not drained yet),
   else it is lost;
3. naive: one paho subscriber doing INSERT + commit per message (the full run adds a pair of
   them on a shared subscription), on a smaller fleet that still saturates it;
4. production broker: the 2-worker ingest for a few seconds on ``BrokerOptions()`` (autosave
   after every 1,000 changes); phases 1–3 run Mosquitto with its own timed autosave instead (see
   bench/README.md, ``ingest.py``). The full run also measures what both brokers accept while
   a backlog builds.

Module map: ingest_load.py (fleet, messages, generator processes), ingest_mqtt.py (MQTT on a
socket), ingest_run.py (schema, processes, ack listener), ingest_sys.py (CPU, py-spy),
ingest_report.py (figures).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as paho
import psycopg
from _common import bench_broker, logged_in
from ingest_load import Fleet, LoadSpec, ceiling_paho
from ingest_mqtt import session_leftovers
from ingest_report import Phase, describe, header, per_message, report
from ingest_run import SPAWN, AckListener, Children, Db, Generators, Workers, start_workers
from ingest_sys import CpuMeter, py_spy, py_spy_record, summarize
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from psycopg.conninfo import make_conninfo

from kernel.contract import AccBlock, Event, Topics, Up, Vitals, parse
from kernel.services.broker import BrokerAddress, BrokerOptions

TIMED_AUTOSAVE = BrokerOptions(autosave_on_changes=None)  # Mosquitto's own timer: 1800 s


@dataclass(frozen=True, slots=True)
class Plan:
    """Sizes and durations (seconds) of a run."""

    wearables: int = 10_000
    generators: int = 2
    ceiling_s: float = 2
    ingest_s: int = 10
    warmup_s: float = 3
    drain_s: float = 12
    one_worker_s: int = 0
    naive_wearables: int = 3_000
    naive_s: int = 5
    production_s: int = 5
    profile_s: int = 0
    paho_s: float = 0  # the paho publisher's ceiling, for comparison
    naive_pair: bool = False  # the naive ingest with 2 subscribers too
    backlog_s: float = 0  # broker accept rate while a backlog builds, both autosave options
    capacity_wearables: int = 0  # a 2-worker phase offered more than the target: the ceiling


QUICK = Plan()
FULL = Plan(ceiling_s=5, ingest_s=60, warmup_s=10, drain_s=120, one_worker_s=25, naive_s=20,
            production_s=12, profile_s=20, paho_s=3, naive_pair=True,
            backlog_s=6, capacity_wearables=16_000)


@dataclass
class Run:
    plan: Plan
    db: Db
    broker: BrokerAddress
    tmp: Path
    children: Children
    gens: Generators
    cpu_groups: dict[str, list[int]]


# -------------------------------------------------------------------------------- phases


def measure(run: Run, phase: Phase, fleet: Fleet, gens: Generators, pids: dict[str, list[int]],
            pg_app: str, seconds: int, warmup: float, spy_pid: int | None = None) -> None:
    """Release the generators; count what PostgreSQL commits over [warmup, seconds] (exact
    counts at both edges, a per-second series from statistics between), and the CPU used."""
    start = gens.go()
    _sleep_until(start + warmup)
    meter = CpuMeter({**run.cpu_groups, **pids, "load generator": gens.pids},
                     run.db.backends(pg_app))
    c1, t1, s1, last = run.db.counts(fleet.tag), time.monotonic(), meter.snapshot(), None
    spy = py_spy_record(spy_pid, run.plan.profile_s, run.tmp / "spy.txt") if spy_pid else None
    while time.monotonic() < start + seconds - 0.5:
        now = run.db.inserted()
        if last is not None:
            phase.series_acc.append(now - last)
        last = now
        _sleep_until(min(start + seconds, time.monotonic() + 1.0))
    c2, t2, s2 = run.db.counts(fleet.tag), time.monotonic(), meter.snapshot()
    phase.window_s = round(t2 - t1, 1)
    phase.rate = {k: (c2[k] - c1[k]) / (t2 - t1) for k in c1}
    phase.rate["vitals"] /= fleet.vitals_every  # readings → messages
    phase.cpu_pct = CpuMeter.percent(s1, s2)
    if spy is not None:
        try:
            spy.wait(run.plan.profile_s + 30)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()
        phase.profile = summarize(run.tmp / "spy.txt", run.plan.profile_s)


def ingest_phase(run: Run, name: str, n_workers: int, seconds: int, *,
                 broker: BrokerAddress | None = None, check: bool = True,
                 profile: bool = False, wearables: int = 0) -> Phase:
    """``n_workers`` ingest workers under the full fleet (or ``wearables``); with ``check``:
    drain, look up."""
    plan, broker = run.plan, broker or run.broker
    tag = f"{name}{secrets.token_hex(2)}"
    fleet = Fleet(f"bench-{tag}/v1", tag, wearables or plan.wearables)
    run.db.register(fleet)
    phase = Phase(name, fleet.offered_per_s())
    gens = run.gens.start("schedule", LoadSpec(
        broker.host, broker.port, fleet, 0, plan.generators, seconds,
        drain_s=30 if check else 1, overrun_s=5 if check else 0.5))
    workers = start_workers(n_workers, run.db.conninfo, broker, fleet.root, tag, run.tmp,
                            run.children)
    acks = AckListener(broker, fleet.root)
    try:
        workers.wait_subscribed()
        gens.ready()
        measure(run, phase, fleet, gens, {"ingest workers": workers.pids}, workers.app,
                seconds, plan.warmup_s if check else 2.0,
                workers.pids[0] if profile else None)
        results = gens.results(60)
        _publisher_figures(phase, results)
        per_message(phase)
        phase.backlog_at_end = phase.published.get("acc", 0) - run.db.counts(tag)["acc"]
        if check:
            _drain_and_check(run, phase, fleet, results, acks, workers, broker)
    finally:
        for proc in workers.procs:
            run.children.stop(proc)
        acks.close()
    phase.worker_counters = workers.counters()
    return phase


def _publisher_figures(phase: Phase, results: list[dict[str, Any]]) -> None:
    sent: dict[str, int] = {}
    for r in results:
        for kind, keys in r["acked"].items():
            phase.published[kind] = phase.published.get(kind, 0) + len(keys)
        for kind, n in r["sent"].items():
            sent[kind] = sent.get(kind, 0) + n
    total = sum(sent.values())
    phase.generator = {
        "sent_per_s": round(total / max(r["send_s"] for r in results)),
        "behind_schedule_max_s": round(max(r["lag_max_s"] for r in results), 2),
        "cpu_us_per_msg": round(sum(r["cpu_s"] for r in results) / max(total, 1) * 1e6, 1),
        "not_acked_by_broker": sum(r["unacked"] + sum(r["refused"].values()) for r in results)}


def _drain_and_check(run: Run, phase: Phase, fleet: Fleet, results: list[dict[str, Any]],
                     acks: AckListener, workers: Workers, broker: BrokerAddress) -> None:
    """Wait until every PUBACKed message is stored (or nothing moved for 10 s, or the plan's
    drain time is over); stop the workers; count what the broker acknowledged but neither
    PostgreSQL nor the workers' sessions in the broker (not drained yet) have."""
    acked = {k: np.concatenate([r["acked"][k] for r in results]) for k in ("acc", "event")}
    t0 = moved = time.monotonic()
    first = last = run.db.counts(fleet.tag)
    while time.monotonic() - t0 < run.plan.drain_s and time.monotonic() - moved < 10:
        if last["acc"] >= acked["acc"].size and last["event"] >= acked["event"].size:
            break
        time.sleep(0.5)
        now = run.db.counts(fleet.tag)
        if now != last:
            last, moved = now, time.monotonic()
    elapsed, drained = time.monotonic() - t0, last["acc"] - first["acc"]
    time.sleep(1.0)  # the other worker's last batch (≤ 200 ms old) and the last app acks
    for proc in workers.procs:
        run.children.stop(proc)
    queued = session_leftovers(broker.host, broker.port, workers.client_ids)
    last = run.db.counts(fleet.tag)
    stored = {"acc": run.db.stored_acc(fleet.tag), "event": run.db.stored_events(fleet.tag)}
    missing = {k: np.setdiff1d(acked[k], stored[k]) for k in acked}
    phase.drain = {"seconds": round(elapsed, 1),
                   "acc_per_s": round(drained / elapsed) if elapsed else 0,
                   "not_drained": int(sum(np.intersect1d(missing[k], queued[k]).size
                                          for k in missing))}
    phase.lost = {
        "acc": int(np.setdiff1d(missing["acc"], queued["acc"]).size),
        "event": int(np.setdiff1d(missing["event"], queued["event"]).size),
        # stored, but no app ack: unless the broker redelivers it (then it is acked again)
        "event_without_app_ack": int(np.setdiff1d(
            np.setdiff1d(stored["event"], acks.array()), queued["event"]).size),
        "acc_duplicate_rows": int(last["acc"] - stored["acc"].size)}
    if not queued["vitals"].size:  # readings are only counted: exact when all drained
        phase.lost["vitals_readings_missing"] = int(
            fleet.vitals_every * phase.published.get("vitals", 0) - last["vitals"])


def ceiling_phase(run: Run) -> dict[str, float]:
    """The generator alone, as fast as the broker takes it (nobody subscribed); paho too."""
    fleet = Fleet("bench-ceiling/v1", "ceil", run.plan.wearables)
    spec = LoadSpec(run.broker.host, run.broker.port, fleet, 0, run.plan.generators,
                    run.plan.ceiling_s)
    gens = run.gens.start("ceiling", spec).ready()
    gens.go()
    results = gens.results(run.plan.ceiling_s + 40)
    acked = sum(r["acked"] for r in results)
    out = {"messages_per_s": round(acked / max(r["elapsed_s"] for r in results)),
           "cpu_us_per_msg": round(sum(r["cpu_s"] for r in results) / acked * 1e6, 1)}
    if run.plan.paho_s:
        paho_figures = ceiling_paho(run.broker.host, run.broker.port, fleet.root,
                                    run.plan.paho_s)
        out["paho_messages_per_s"] = round(paho_figures["messages_per_s"])
        out["paho_cpu_us_per_msg"] = round(paho_figures["cpu_us_per_msg"], 1)
    return out


def production_phase(run: Run, options: BrokerOptions | None = None) -> Phase:
    """The 2-worker ingest for a few seconds on a broker with the production options."""
    broker = bench_broker(run.tmp / f"broker-{secrets.token_hex(2)}", options).start()
    try:
        assert broker.proc is not None
        run = replace(run, cpu_groups={**run.cpu_groups, "mosquitto": [broker.proc.pid]})
        return ingest_phase(run, "prod", 2, run.plan.production_s, broker=broker.address,
                            check=False)
    finally:
        broker.kill()  # its backlog is of no interest: do not wait for it to be saved


# -------------------------------------------------------------------------- naive ingest

_NAIVE_ACC = ("INSERT INTO acc_blocks (device, t0, seq, rate_hz, scale_g, n, samples,"
              " received_at) VALUES (%s, to_timestamp(%s), %s, %s, %s, %s, %s, now())")
_NAIVE_EVENT = ("INSERT INTO events (id, gateway_id, incarnation, n, device, dseq, type, ts,"
                " received_at, rssi, battery_mv) VALUES (%s, %s, %s, %s, %s, %s, %s,"
                " to_timestamp(%s), now(), %s, %s) ON CONFLICT (id) DO NOTHING")
_NAIVE_VITALS = ("INSERT INTO vitals (device, ts, hr, contact) SELECT %s, to_timestamp(t), h,"
                 " true FROM unnest(%s::float8[], %s::int2[]) AS r(t, h) ON CONFLICT DO NOTHING")


def naive_main(conninfo: str, host: str, port: int, pipe: Connection) -> None:
    """Process entry of the naive ingest: told ``("connect", root)``, it subscribes (paho) and
    then does, per message, one INSERT and one commit, until terminated."""
    _, root = pipe.recv()
    topics, conn = Topics(root), psycopg.connect(conninfo)

    def on_message(_c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        _, channel = topics.parse(msg.topic)
        if channel == Up.ACC:
            b = AccBlock.decode(bytes(msg.payload))
            conn.execute(_NAIVE_ACC, (b.device, b.t0_us / 1e6, b.seq, b.rate_hz, b.scale_g,
                                      len(b.samples), b.samples.tobytes()))
        elif channel == Up.EVENT:
            e = parse(Event, bytes(msg.payload))
            conn.execute(_NAIVE_EVENT, (e.id, e.gw, e.inc or "", e.n, e.device, e.dseq,
                                        e.type.value, e.ts, e.rssi, e.battery_mv))
        elif channel == Up.VITALS:
            v = parse(Vitals, bytes(msg.payload))
            conn.execute(_NAIVE_VITALS, (v.device, [r.ts for r in v.readings],
                                         [r.hr for r in v.readings]))
        conn.commit()  # paho sends the PUBACK when this returns: after the commit

    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.on_message = on_message
    client.on_subscribe = lambda *_: pipe.send("ready")
    logged_in(client).connect(host, port)
    client.subscribe([(f"$share/naive/{root}/gw/+/up/{ch.value}", 1)
                      for ch in (Up.ACC, Up.EVENT, Up.VITALS)])
    client.loop_forever()


class Naive:
    """The naive subscriber processes, spawned early (imports are slow on a busy box)."""

    APP = "bench-naive"

    def __init__(self, n: int, run_db: Db, broker: BrokerAddress, children: Children) -> None:
        self.pipes: list[Connection] = []
        self.procs: list[BaseProcess] = []
        conninfo = make_conninfo(run_db.conninfo, application_name=self.APP)
        for _ in range(n):
            ours, theirs = SPAWN.Pipe()
            self.procs.append(SPAWN.Process(target=naive_main, daemon=True, args=(
                conninfo, broker.host, broker.port, theirs)))
            children.add(self.procs[-1])
            self.procs[-1].start()
            self.pipes.append(ours)

        self.used = 0

    def connect(self, root: str, count: int) -> list[BaseProcess]:
        """Put ``count`` unused subscribers on ``root`` (one shared subscription)."""
        first, self.used = self.used, self.used + count
        for pipe in self.pipes[first : self.used]:
            pipe.send(("connect", root))
        if not all(p.poll(60) and p.recv() == "ready" for p in self.pipes[first : self.used]):
            raise RuntimeError("a naive subscriber did not subscribe")
        return self.procs[first : self.used]


def naive_phase(run: Run, naive: Naive, count: int) -> Phase:
    """The naive ingest, ``count`` subscriber processes, on a smaller fleet."""
    plan, tag = run.plan, f"naive{secrets.token_hex(2)}"
    fleet = Fleet(f"bench-{tag}/v1", tag, plan.naive_wearables)
    run.db.register(fleet)
    phase = Phase(f"naive ({count} subscriber{'s' if count > 1 else ''})",
                  fleet.offered_per_s())
    gens = run.gens.start("schedule", LoadSpec(
        run.broker.host, run.broker.port, fleet, 0, plan.generators, plan.naive_s, drain_s=1,
        overrun_s=0.5))
    procs: list[BaseProcess] = []
    try:
        procs = naive.connect(fleet.root, count)
        gens.ready()
        measure(run, phase, fleet, gens, {"naive subscribers": [p.pid or 0 for p in procs]},
                naive.APP, plan.naive_s, min(2.0, plan.warmup_s))
        _publisher_figures(phase, gens.results(30))
        per_message(phase)
        phase.backlog_at_end = phase.published.get("acc", 0) - run.db.counts(tag)["acc"]
    finally:
        for proc in procs:
            run.children.stop(proc)
    return phase


def backlog_check(run: Run, options: BrokerOptions) -> int:
    """Messages/s a broker with ``options`` accepts from the generator while a backlog builds
    (its only subscriber takes 10 at a time and never acks: an ingest that is down or slow)."""
    broker = bench_broker(run.tmp / f"broker-{secrets.token_hex(2)}", options).start()
    holder = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-backlog",
                         protocol=paho.MQTTv5, manual_ack=True)
    try:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600  # persistent, as the workers' sessions are
        props.ReceiveMaximum = 10
        subscribed = threading.Event()
        holder.on_subscribe = lambda *_: subscribed.set()
        broker.address.apply(holder).connect(broker.address.host, broker.address.port,
                                             clean_start=False,
                       properties=props)
        holder.subscribe("$share/hold/bench-backlog/v1/gw/+/up/acc", qos=1)
        holder.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("backlog check: no SUBACK")
        fleet = Fleet("bench-backlog/v1", "blg", run.plan.wearables)
        gens = run.gens.start("ceiling", LoadSpec(
            broker.address.host, broker.address.port, fleet, 0, run.plan.generators,
            run.plan.backlog_s, drain_s=2, overrun_s=1)).ready()
        gens.go()
        results = gens.results(run.plan.backlog_s + 30)
        acked = sum(int(r["acked"]) for r in results)
        return round(acked / max(float(r["elapsed_s"]) for r in results))
    finally:
        holder.loop_stop()
        broker.kill()


# -------------------------------------------------------------------------------- report


def _phase(fn: Callable[..., Phase], *args: Any, **kw: Any) -> Phase:
    """Run a phase, time it and print its figures at once."""
    t = time.monotonic()
    phase = fn(*args, **kw)
    phase.took_s = round(time.monotonic() - t, 1)
    print("\n".join(describe(phase)), flush=True)
    return phase


def _sleep_until(t: float) -> None:
    time.sleep(max(0.0, t - time.monotonic()))


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run (< 60 s)")
    parser.add_argument("--json", action="store_true", help="one JSON object as the last line")
    parser.add_argument("--profile", action="store_true",
                        help="full run: one more 2-worker phase with py-spy on a worker")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    if not args.profile or args.quick:
        plan = replace(plan, profile_s=0)
    elif py_spy() is None:
        parser.error("--profile needs py-spy: .venv/bin/pip install py-spy")
    # unwind on Ctrl-C and SIGTERM (also when started in the background, where the shell
    # ignores SIGINT for us): the ExitStack stops every child and drops the schema
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.monotonic()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ingest-")))
        children = Children(stack)
        db = Db(stack)
        broker = bench_broker(tmp / "broker", TIMED_AUTOSAVE).start()
        stack.callback(broker.kill)
        assert broker.proc is not None
        gens = Generators(plan.generators, children)
        stack.callback(gens.close)
        naive = Naive(1 + 2 * plan.naive_pair, db, broker.address, children)
        run = Run(plan, db, broker.address, tmp, children, gens,
                  {"mosquitto": [broker.proc.pid], "this script": [os.getpid()]})
        backend = db.one("SELECT backend FROM schema_migrations WHERE backend IS NOT NULL")
        ceiling = ceiling_phase(run)
        print(header(plan.wearables, args.quick, backend, ceiling), flush=True)
        phases = {"ingest_2w": _phase(ingest_phase, run, "two", 2, plan.ingest_s)}
        if plan.one_worker_s:
            phases["ingest_1w"] = _phase(ingest_phase, run, "one", 1, plan.one_worker_s)
        if plan.capacity_wearables:
            phases["capacity"] = _phase(ingest_phase, run, "cap", 2, plan.one_worker_s,
                                        wearables=plan.capacity_wearables)
        if plan.profile_s:
            phases["ingest_2w_profiled"] = _phase(
                ingest_phase, run, "spy", 2, plan.profile_s + 4,
                check=False, profile=True)
        phases["naive"] = _phase(naive_phase, run, naive, 1)
        if plan.naive_pair:
            phases["naive_2"] = _phase(naive_phase, run, naive, 2)
        phases["production_broker"] = _phase(production_phase, run)
        if plan.backlog_s:
            backlog = {"timed_autosave": backlog_check(run, TIMED_AUTOSAVE),
                       "production": backlog_check(run, BrokerOptions())}
            print(f"  broker accepts while a backlog builds: timed autosave"
                  f" {backlog['timed_autosave']:,} msg/s, production options (autosave"
                  f" every 1,000 changes) {backlog['production']:,} msg/s", flush=True)
        result, summary = report(plan.wearables, args.quick, ceiling, phases, backend)
        if plan.backlog_s:
            result["broker_accepts_with_backlog_per_s"] = backlog
    result["took_s"] = round(time.monotonic() - began, 1)
    result["load_1m"] = round(os.getloadavg()[0], 2)
    print(summary, f"  (the run took {result['took_s']} s; load average"
          f" {result['load_1m']})", sep="\n", flush=True)
    if args.json:
        print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("interrupted; every process started was stopped", file=sys.stderr)
        raise SystemExit(130) from None
