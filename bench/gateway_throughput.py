"""Gateway throughput: button frames/s from a real pty to an acknowledging server, and the
outbox's raw commit rate, each against a naive version in the same run.

    .venv/bin/python bench/gateway_throughput.py [--quick] [--json]

End to end: frames written to a pty, read by an in-process ``Gateway`` (decode, one fsync'd
outbox commit per event, MQTT 5 QoS 1 with up to ``inflight`` in flight) through a private
Mosquitto to an acknowledging subscriber (``_common.AckServer``, a process of its own), whose
acks empty the outbox. The baseline reads another pty with pyserial, builds the same event and
publishes it with paho, waiting for each PUBACK before the next (stop-and-wait, nothing on
disk). Outbox: ``add_event`` (one commit each), ``add_telemetry`` (batches of 100) and, as
baseline, a first-version queue that opens the database, inserts, commits and closes per
message with SQLite's default rollback journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
import serial
from _common import (
    AckServer,
    ChildProcess,
    bench_broker,
    cancel,
    emit,
    logged_in,
    mqtt_login,
    parse_args,
    press_frame,
    rate,
    wait_for,
)
from paho.mqtt.enums import CallbackAPIVersion

from firmware_sim.link import PtyLink
from gateway.app import Gateway
from gateway.events import frame_event
from gateway.outbox import Outbox
from gateway.settings import GatewaySettings, MqttSettings
from hardware.catalog import rf_uid
from hardware.frames import Deframer, Frame, MsgType, input_data
from kernel.contract import AccBlock, Topics, Up, dump
from kernel.services.broker import BrokerOptions

DEVICES = tuple(0x0C0D0000 + i for i in range(8))
TOPICS = Topics("bench/v1")
NAIVE_ID = "gw-naive-0001"
NAIVE_INC = "0a1fe0000001"  # the baseline keeps no state: one fixed incarnation, n from the clock
HERE = Path(__file__).resolve()


def stream(n: int) -> bytes:
    """``n`` presses from 8 paired buttons, each with its own rolling sequence."""
    return b"".join(press_frame(DEVICES[k % len(DEVICES)], k // len(DEVICES)) for k in range(n))


async def feed(link: PtyLink, data: bytes, chunk: int = 4096) -> None:
    """Write ``data`` as fast as the reader takes it."""
    for i in range(0, len(data), chunk):
        link.write(data[i : i + chunk])
        await link.drain()


# ------------------------------------------------------------------------------- end to end


async def through_gateway(n: int, work: Path, port: int, gw_id: str) -> dict[str, float]:
    """Seconds until every frame was decoded (and committed), PUBACKed, acknowledged."""
    link = PtyLink()
    settings = GatewaySettings(id=gw_id, state_dir=work,
                               serial=(link.path,), mqtt=MqttSettings(
                                   port=port, root=TOPICS.root, **mqtt_login()))  # type: ignore[arg-type]
    gw = Gateway(settings)
    for device in DEVICES:
        gw.registry.pair(rf_uid(device), "PB-433")
    commits = count_commits(gw.outbox)
    task = asyncio.create_task(gw.run(), name="gateway")
    try:
        await wait_for(lambda: gw.serial[0].connected.is_set() and gw.uplink.connected.is_set(),
                       15, "the gateway's serial link and MQTT session")
        start = time.perf_counter()
        writer = asyncio.create_task(feed(link, stream(n)))
        c = gw.counters
        marks = {}
        for name, counter in (("decoded", "frames"), ("published", "published_alarm"),
                              ("acked", "acked")):
            await wait_for(lambda k=counter: running(task) and c[k] >= n, 120,  # type: ignore[misc]
                           f"{n} frames {name}", poll=0.002)
            marks[name] = time.perf_counter() - start
        await writer
        marks["resent"] = c["published_alarm"] - n
        marks["commits"] = sum(commits.values())
        return marks
    finally:
        await cancel(task)
        link.close()


def running(task: asyncio.Task[None]) -> bool:
    """True, or raise what stopped the task."""
    if task.done():
        task.result()
        raise RuntimeError(f"{task.get_name()} stopped")
    return True


def count_commits(outbox: Outbox) -> Counter[str]:
    """Count the outbox's write transactions (each one fsync'd) by wrapping its methods."""
    counts: Counter[str] = Counter()
    for name in ("add_event", "mark_sent", "acked", "telemetry_published"):
        method = getattr(outbox, name)

        def counted(*args: Any, _m: Callable[..., Any] = method, _n: str = name,
                    **kwargs: Any) -> Any:
            counts[_n] += 1
            return _m(*args, **kwargs)

        setattr(outbox, name, counted)
    return counts


def naive_event(frame: Frame) -> bytes:
    draft = frame_event(frame, rf_uid(frame.device_id))
    assert draft is not None
    return dump(draft.payload(NAIVE_ID, NAIVE_INC, time.time_ns() // 1000, time.time()))


async def stop_and_wait(n: int, port: int) -> float:
    """The baseline: read, decode, publish, wait for the PUBACK, next. Seconds for ``n``."""
    link = PtyLink()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=NAIVE_ID,
                         protocol=mqtt.MQTTv5)
    logged_in(client).connect("127.0.0.1", port)
    client.loop_start()
    port_ = serial.serial_for_url(link.path, timeout=1.0)
    topic = TOPICS.up(NAIVE_ID, Up.EVENT)
    stop = threading.Event()

    def forward() -> None:
        deframer, done = Deframer(), 0
        while done < n and not stop.is_set():
            for frame in deframer.feed(port_.read(port_.in_waiting or 1)):
                client.publish(topic, naive_event(frame), qos=1).wait_for_publish(10)
                done += 1

    try:
        start = time.perf_counter()
        writer = asyncio.create_task(feed(link, stream(n)))
        await asyncio.to_thread(forward)
        elapsed = time.perf_counter() - start
        await writer
        return elapsed
    finally:
        stop.set()
        client.disconnect()
        client.loop_stop()
        port_.close()
        link.close()


# ------------------------------------------------------------------------------- outbox


def timed(count: int, step: Callable[[int], object]) -> float:
    start = time.perf_counter()
    for i in range(count):
        step(i)
    return time.perf_counter() - start


def outbox_rates(work: Path, events: int, telemetry: int, batch: int = 100) -> dict[str, float]:
    payload = naive_event(Frame(MsgType.PRESS, DEVICES[0], 1, -60, 2950, input_data()))
    block = AccBlock("ble-c47c8d6a1234", 0, 0, 50.0, 1 / 1024,
                     np.zeros((50, 3), dtype=np.int16)).encode()
    outbox = Outbox(work / "outbox.sqlite3")
    try:
        event_s = timed(events, lambda i: outbox.add_event(lambda n: payload, alarm=True))
        tele_s = timed(telemetry // batch,
                       lambda i: outbox.add_telemetry([(Up.ACC, block)] * batch))
    finally:
        outbox.close()
    path = work / "naive.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE queue (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)")

    def naive_add(i: int) -> None:
        with contextlib.closing(sqlite3.connect(path)) as db, db:
            db.execute("INSERT INTO queue (payload) VALUES (?)", (payload,))

    naive_n = max(events // 3, 100)
    naive_s = timed(naive_n, naive_add)
    return {"outbox_commits_per_s": rate(events, event_s),
            "telemetry_msgs_per_s": rate(telemetry // batch * batch, tele_s),
            "telemetry_commits_per_s": rate(telemetry // batch, tele_s),
            "baseline_outbox_commits_per_s": rate(naive_n, naive_s)}


# ------------------------------------------------------------------------------- main


async def end_to_end(n: int, repeats: int, work: Path, stack: ExitStack) -> dict[str, Any]:
    # No broker persistence: with the platform's autosave_on_changes Mosquitto rewrites and
    # fsyncs its database per QoS 1 message (see README), which would measure the broker.
    broker = bench_broker(work / "broker", BrokerOptions(persistence=False)).start()
    stack.callback(broker.kill)
    server = ChildProcess([str(HERE), "--ack-server", str(broker.port)],
                          work / "server.log")
    stack.callback(server.stop)
    server.start()
    await server.wait_logged("acknowledging")
    runs, naive = [], []
    for i in range(repeats):  # alternate, so both see the same machine
        gw_id = f"gw-tput-{i:04d}"
        runs.append(await through_gateway(n, work / gw_id, broker.port, gw_id))
        naive.append(await stop_and_wait(n, broker.port))
    acked = statistics.median(r["acked"] for r in runs)
    baseline = statistics.median(naive)
    return {
        "frames": n, "repeats": repeats,
        "frames_per_s": rate(n, acked),
        "published_per_s": rate(n, statistics.median(r["published"] for r in runs)),
        "decoded_per_s": rate(n, statistics.median(r["decoded"] for r in runs)),
        "resent": max(int(r["resent"]) for r in runs),
        "commits_per_frame": round(statistics.median(r["commits"] for r in runs) / n, 2),
        "baseline_frames_per_s": rate(n, baseline),
        "ratio": round(baseline / acked, 2),
    }


async def ack_server(port: int) -> None:
    """The acknowledging subscriber, run as its own process (``--ack-server PORT``)."""
    server = AckServer(port, TOPICS, persistent=False, timeout=10.0)
    server.back()
    print("acknowledging", flush=True)
    await asyncio.Event().wait()


def main() -> int:
    if sys.argv[1:2] == ["--ack-server"]:
        asyncio.run(ack_server(int(sys.argv[2])))
        return 0
    args = parse_args("gateway throughput benchmark (frames/s end to end, outbox commits/s)")
    logging.getLogger("mqtt").setLevel(logging.ERROR)  # aiomqtt: "There are 100 pending ..."
    n, repeats, events, telemetry = (1000, 1, 500, 20_000) if args.quick else \
        (5000, 3, 3000, 200_000)
    with tempfile.TemporaryDirectory(prefix="bench-tput-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        result = asyncio.run(end_to_end(n, repeats, work, stack))
        result |= outbox_rates(work, events, telemetry)
    result["outbox_ratio"] = round(result["outbox_commits_per_s"] /
                                   result["baseline_outbox_commits_per_s"], 2)
    r = result
    lines = [
        f"end to end, {n} presses from a pty, median of {repeats}:",
        f"  gateway   {r['frames_per_s']:8.0f} frames/s acknowledged "
        f"({r['published_per_s']:.0f}/s PUBACKed, {r['decoded_per_s']:.0f}/s decoded+committed, "
        f"{r['resent']} resent, {r['commits_per_frame']} outbox commits per frame)",
        f"  baseline  {r['baseline_frames_per_s']:8.0f} frames/s stop-and-wait, PUBACKed "
        f"(ratio {r['ratio']})",
        "outbox:",
        f"  add_event     {r['outbox_commits_per_s']:8.0f} commits/s (WAL, synchronous=FULL)",
        f"  add_telemetry {r['telemetry_msgs_per_s']:8.0f} msgs/s in "
        f"{r['telemetry_commits_per_s']:.0f} commits/s of 100",
        f"  baseline      {r['baseline_outbox_commits_per_s']:8.0f} commits/s (open, insert, "
        f"commit, close; rollback journal) (ratio {r['outbox_ratio']})",
    ]
    emit(result, lines, args.json)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # everything started was stopped on the way out
        sys.exit(130)
