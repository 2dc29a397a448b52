"""Alarm latency: a button press on a real pty → the operator's WebSocket, idle and under load.

    .venv/bin/python bench/alarm_latency.py [--quick] [--json] [--wearables N] [--dump FILE]
                                            [--broker-autosave N]

Six homes, each a ``PtyLink`` read by an in-process ``Gateway`` (SQLite outbox, MQTT 5 QoS 1) with
one resident per panic button, provisioned in a fresh schema ``bench_<random>`` of the ``test``
database; a private Mosquitto (production-like config); the real server (``pinganling server``:
uvicorn, ``create_app``, 2 ingest worker processes); an operator signed in over
``/api/live?token=``. Every press comes from a button not pressed before, so each opens its own
alert (no bumps, nothing resolved): latency = bytes written to the pty → the ``open`` change of
that press's alert received on the WebSocket; a press without one after ``drain_s`` is lost.

Phases, one run: warm-up (2 presses per home), *baseline* (no background), then *loaded*: ≥ 1,000
simulated wearables publishing 1 AccBlock/s each plus vitals and gateway heartbeats from their
own gateways (registered in the schema), by ``alarm_latency_load.py`` in its own process.
Presses arrive at random (exponential gaps) at ``rate`` per second over random homes. Per-hop
timestamps: see ``alarm_latency_probes``. Everything is removed at the end, also on error/Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import bench_broker
from alarm_latency_load import FleetSpec, LoadProcess
from alarm_latency_probes import (
    EventTap,
    Home,
    NotifyProbe,
    Recorder,
    SchedProbe,
    WsProbe,
)
from alarm_latency_report import (
    Phase,
    analyse,
    db_stamps,
    log_warnings,
    raw_stamps,
    summary,
    telemetry_stats,
)
from alarm_latency_stack import (
    ServerProcess,
    children,
    cpu_percent,
    cpu_sample,
    create_schema,
    database_url,
    drop_schema,
    home_specs,
    login,
    seed,
)

from kernel.contract import DEFAULT_ROOT, Topics
from kernel.services.broker import BrokerOptions, PrivateBroker
from kernel.services.system import free_port
from server.store import schema_conninfo

WORKERS = 2  # the server's default ingest_workers
WARMUP = 2  # presses per home before measuring


@dataclass(frozen=True, slots=True)
class Plan:
    homes: int
    baseline: int
    loaded: int
    rate: float  # presses per second, over all homes
    ramp_s: float  # background running before the loaded presses start
    wearables: int
    drain_s: float  # after the last press: a press with no change by then is lost
    settle_s: float  # after the background stops: for its PUBACKs and its rows
    broker: BrokerOptions

    def load_seconds(self) -> int:
        return int(self.ramp_s + 2 * self.loaded / self.rate + 60)


def broker_options(autosave: int | None) -> BrokerOptions:
    """The project's broker config; ``autosave`` N > 0: save after N changes, 0: every 1 s."""
    if autosave is None:
        return BrokerOptions()
    if autosave > 0:
        return BrokerOptions(autosave_on_changes=autosave)
    return BrokerOptions(autosave_on_changes=None, extra=("autosave_interval 1",))


def plan_for(args: argparse.Namespace) -> Plan:
    broker = broker_options(args.broker_autosave)
    if args.quick:
        return Plan(homes=6, baseline=50, loaded=200, rate=15.0, ramp_s=3.0,
                    wearables=args.wearables, drain_s=3.0, settle_s=2.0, broker=broker)
    return Plan(homes=6, baseline=200, loaded=500, rate=4.0, ramp_s=10.0,
                wearables=args.wearables, drain_s=15.0, settle_s=10.0, broker=broker)


def progress(message: str) -> None:
    """A progress line on stderr (stdout carries the figures)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ phases


async def press_all(presses: list[tuple[Home, int, str]], rate: float,
                    rng: random.Random) -> None:
    for home, device_id, uid in presses:
        await asyncio.sleep(rng.expovariate(rate))
        home.press(device_id, uid)


async def wait_seen(rec: Recorder, uids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while rec.seen("ws", uids) < len(uids) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)  # the stamps come from the probe threads


async def run_phase(name: str, presses: list[tuple[Home, int, str]], plan: Plan,
                    rec: Recorder, rng: random.Random, pids: dict[str, list[int]]) -> Phase:
    before = cpu_sample(pids)
    start = time.time()
    await press_all(presses, plan.rate, rng)
    await wait_seen(rec, [uid for _, _, uid in presses], plan.drain_s)
    return Phase(name, presses, cpu_percent(before, cpu_sample(pids)), start, time.time())


async def _stop_homes(homes: list[Home]) -> None:
    await asyncio.gather(*(home.stop() for home in homes))


# ------------------------------------------------------------------------------ the run


def assign(homes: list[Home], count: int, offset: int, rng: random.Random,
           ) -> list[tuple[Home, int, str]]:
    """``count`` presses over the homes, each from a button not used before (from ``offset``)."""
    per_home = math.ceil(count / len(homes))
    order = [h for h in homes for _ in range(per_home)]
    rng.shuffle(order)
    used = dict.fromkeys(range(len(homes)), offset)
    out = []
    for home in order[:count]:
        g = homes.index(home)
        j = used[g]
        used[g] += 1
        out.append((home, home.spec.device_ids[j], home.spec.buttons[j]))
    return out


async def measure(plan: Plan, stack: contextlib.AsyncExitStack) -> dict[str, Any]:
    stack.callback(progress, "stopped and removed everything")
    rng = random.Random(4)
    rec = Recorder()
    state = Path(tempfile.mkdtemp(prefix="alarm-latency-"))
    stack.callback(shutil.rmtree, state, True)
    url = await asyncio.to_thread(database_url)
    schema = await asyncio.to_thread(create_schema, url)
    stack.callback(drop_schema, url, schema)
    conninfo = schema_conninfo(url, schema)
    broker = await asyncio.to_thread(
        bench_broker(state / "mosquitto", plan.broker).start)
    stack.callback(broker.stop)
    server = ServerProcess(conninfo, broker.port, free_port(), state)
    stack.callback(server.stop)
    fleet = FleetSpec("127.0.0.1", broker.port, DEFAULT_ROOT, plan.wearables,
                      plan.load_seconds(), ack_wait_s=plan.settle_s)
    load = LoadProcess(fleet, state / "load.log")
    stack.callback(load.close)
    try:
        return await _measure(plan, rec, rng, state, conninfo, schema, broker, server, fleet,
                              load, stack)
    except Exception:  # a failure, not Ctrl-C: show what the server said
        print(f"--- server log (tail) ---\n{server.log()[-4000:]}", file=sys.stderr)
        raise


async def _measure(plan: Plan, rec: Recorder, rng: random.Random, state: Path, conninfo: str,
                   schema: str, broker: PrivateBroker, server: ServerProcess, fleet: FleetSpec,
                   load: LoadProcess, stack: contextlib.AsyncExitStack) -> dict[str, Any]:
    progress(f"schema {schema}, broker :{broker.port}, server {server.url}: starting")
    migrated = asyncio.create_task(asyncio.to_thread(server.wait_ready))
    buttons = WARMUP + math.ceil(plan.baseline / plan.homes) + math.ceil(plan.loaded / plan.homes)
    specs = home_specs(plan.homes, buttons)
    homes = [Home(s, state / "gateways", broker.port, rec) for s in specs]
    stack.push_async_callback(_stop_homes, homes)
    await asyncio.gather(*(home.start() for home in homes))
    sched, tap = SchedProbe(), EventTap("127.0.0.1", broker.port, Topics(DEFAULT_ROOT), rec)
    await migrated
    progress(f"server migrated, {len(homes)} gateways up; seeding")
    password = await asyncio.to_thread(seed, conninfo, specs, fleet)
    token = await asyncio.to_thread(login, server.url, password)
    await asyncio.to_thread(server.wait_ready, WORKERS)
    ws_url = server.url.replace("http://", "ws://") + f"/api/live?token={token}"
    probes = (WsProbe(ws_url, rec), NotifyProbe(conninfo, schema, rec), tap, sched)
    for probe in probes:
        await asyncio.to_thread(probe.start_and_wait)
        stack.callback(probe.close)
    await asyncio.to_thread(load.wait_ready)
    progress("load generator ready; warm-up")
    pids = {**server.pids(), "mosquitto": [broker.proc.pid] if broker.proc else [],
            "load generator": [load.proc.pid], "bench (gateways, probes)": [os.getpid()]}
    pids["ingest"] = children(server.proc.pid)

    warm = [(h, h.spec.device_ids[j], h.spec.buttons[j]) for j in range(WARMUP) for h in homes]
    for home, device_id, uid in warm:
        home.press(device_id, uid)
        await asyncio.sleep(0.1)
    await wait_seen(rec, [u for _, _, u in warm], 20)
    if rec.seen("ws", [u for _, _, u in warm]) < len(warm):
        raise RuntimeError("warm-up presses never reached the WebSocket: the alarm path is down")

    progress(f"baseline: {plan.baseline} presses at {plan.rate:g}/s")
    baseline = await run_phase("baseline", assign(homes, plan.baseline, WARMUP, rng), plan,
                               rec, rng, pids)
    progress(f"loaded: {plan.wearables} wearables for {plan.ramp_s:g} s, then {plan.loaded} "
             f"presses at {plan.rate:g}/s")
    load.go()
    await asyncio.sleep(plan.ramp_s)
    offset = WARMUP + math.ceil(plan.baseline / plan.homes)
    loaded = await run_phase("loaded", assign(homes, plan.loaded, offset, rng), plan, rec,
                             rng, pids)
    progress("collecting; then stopping")
    background = await asyncio.to_thread(load.finish)
    for phase in (baseline, loaded):
        await asyncio.to_thread(db_stamps, conninfo, rec, [u for _, _, u in phase.presses])
    telemetry = await asyncio.to_thread(telemetry_stats, conninfo, background["sent"]["acc"],
                                        plan.settle_s)
    counters = sum((h.gateway.counters for h in homes), start=Counter[str]())
    return {"baseline": analyse(baseline, rec, sched), "loaded": analyse(loaded, rec, sched),
            "raw": {p.name: raw_stamps(p, rec) for p in (baseline, loaded)},
            "background": {"wearables": fleet.wearables, "gateways": fleet.gateways,
                           "publisher": background, **telemetry},
            "ws_changes": dict(rec.ws_actions),
            "gateway_publish_failures": counters.get("publish_failures", 0),
            "probe_errors": [repr(p.error) for p in probes if p.error is not None],
            "server_log_warnings": log_warnings(server.log())}


def loadavg() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(v) for v in f.read().split()[:3]]


async def run(plan: Plan) -> dict[str, Any]:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    before = loadavg()
    async with contextlib.AsyncExitStack() as stack:
        result = await measure(plan, stack)
    result["machine"] = {"cores": os.cpu_count(), "loadavg_before": before,
                         "loadavg_after": loadavg()}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run (< 60 s)")
    parser.add_argument("--json", action="store_true",
                        help="print the figures as one JSON object on the last line")
    parser.add_argument("--wearables", type=int, default=1000,
                        help="background wearables (default 1000)")
    parser.add_argument("--dump", type=Path, metavar="FILE",
                        help="write every press's stamps (ms since the press) to FILE as JSON")
    parser.add_argument("--broker-autosave", type=int, metavar="N",
                        help="experiment: Mosquitto saves after N changes (0: every 1 s) instead "
                             "of the project's BrokerOptions default")
    args = parser.parse_args()
    plan = plan_for(args)
    started = time.monotonic()
    try:
        raw = asyncio.run(run(plan))
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C, SIGTERM
        print("interrupted; everything started was stopped and removed", file=sys.stderr)
        return 130
    if args.dump:
        args.dump.write_text(json.dumps(raw.pop("raw"), indent=1))
    setup = {"homes": plan.homes, "presses_per_s": plan.rate, "ingest_workers": WORKERS,
             "broker": {"autosave_on_changes": plan.broker.autosave_on_changes,
                        "extra": list(plan.broker.extra)}}
    result, lines = summary(setup, raw)
    result["wall_s"] = round(time.monotonic() - started, 1)
    print("\n".join([*lines, f"wall time {result['wall_s']} s"]), flush=True)
    if args.json:
        print(json.dumps(result, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
