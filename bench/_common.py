"""Shared helpers of the benchmarks: flags, output, waiting, child processes, frames, and a
stand-in for the server's ingest that acknowledges events."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hardware.frames import Frame, MsgType, encode_frame, input_data
from kernel.contract import ContractError, Event, Topics, Up, parse
from kernel.services.broker import BrokerAddress, BrokerOptions, PrivateBroker
from pinganling.monitor import Acker

# Benchmarks run as scripts (``python bench/NAME.py``); the repository root on the path lets
# them reuse the tests' fixtures (``tests.fixtures.hostile``), which are not installed.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))


# Benchmarks start their own brokers, closed to anonymous clients like every broker of the
# platform; the benchmark and the processes it starts log in as the broker's superuser (an
# identity allowed every topic, for benchmarks and tests only), named in these variables.
LOGIN_ENV = ("PAL_BENCH_MQTT_USERNAME", "PAL_BENCH_MQTT_PASSWORD")


def bench_broker(data_dir: Path, options: BrokerOptions | None = None,
                 port: int | None = None) -> PrivateBroker:
    """A private broker (not yet started) whose superuser this process and its children use:
    one identity for every broker of the run (children started earlier know it already)."""
    password = os.environ.get(LOGIN_ENV[1])
    saved = data_dir / "logins.json"
    if password and not saved.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps({"superuser": password}))
        saved.chmod(0o600)
    broker = PrivateBroker(data_dir, port, replace(options or BrokerOptions(), superuser=True))
    login = broker.login("superuser")
    os.environ[LOGIN_ENV[0]], os.environ[LOGIN_ENV[1]] = login.username, login.password
    return broker


def mqtt_login() -> dict[str, str | None]:
    """``username`` and ``password`` of the benchmark's broker identity (aiomqtt keywords)."""
    return {"username": os.environ.get(LOGIN_ENV[0]), "password": os.environ.get(LOGIN_ENV[1])}


def logged_in(client: paho.Client) -> paho.Client:
    """A paho client set up to log in as the benchmark's identity."""
    if os.environ.get(LOGIN_ENV[0]):
        client.username_pw_set(os.environ[LOGIN_ENV[0]], os.environ.get(LOGIN_ENV[1]))
    return client


def bench_address(port: int, host: str = "127.0.0.1") -> BrokerAddress:
    login = mqtt_login()
    return BrokerAddress(host, port, login["username"], login["password"])


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a smaller run (< 60 s)")
    parser.add_argument("--json", action="store_true",
                        help="print the figures as one JSON object on the last line")
    return parser.parse_args()


def emit(result: dict[str, Any], lines: Sequence[str], as_json: bool) -> None:
    """Print the human summary, then (``--json``) the figures as the last line of stdout.

    Adds ``load_1m``, the machine's load average: on a shared 2-core box it explains a lot.
    """
    result = {**result, "load_1m": round(os.getloadavg()[0], 2)}
    print("\n".join([*lines, f"load average (1 min) {result['load_1m']}"]), flush=True)
    if as_json:
        print(json.dumps(result, sort_keys=True), flush=True)


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float("inf")


async def wait_for(condition: Callable[[], object], timeout: float, what: str,
                   poll: float = 0.01) -> float:
    """Poll until ``condition()`` is truthy; return the seconds waited; TimeoutError after."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(poll)
    return time.monotonic() - start


async def cancel(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` and wait for it to end, without swallowing a cancellation of our own
    (``suppress(CancelledError)`` around ``await task`` would eat a Ctrl-C). Cancels again
    each second: on Python 3.11 ``asyncio.wait_for`` (inside aiomqtt) can swallow one."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=1.0)
    if not task.cancelled():
        task.exception()  # retrieved: an error while stopping is not worth a traceback


def press_frame(device_id: int, seq: int) -> bytes:
    """The serial bytes of one button press (as the RF dongle writes them)."""
    return encode_frame(Frame(MsgType.PRESS, device_id, seq, rssi=-60, battery_mv=2950,
                              data=input_data()))


class ChildProcess:
    """A Python child process with its output in a log file; ``kill9`` and restart it."""

    def __init__(self, args: Sequence[str], log_path: Path) -> None:
        self.args = [sys.executable, *args]
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._offset = 0

    def start(self) -> ChildProcess:
        env = {**os.environ, "PINGANLING_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}
        self._offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env,
                                         start_new_session=True)  # Ctrl-C is ours to handle
        return self

    def output(self) -> str:
        """What this process logged since its last start."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as f:
            f.seek(self._offset)
            return f.read().decode(errors="replace")

    def logged(self, text: str) -> bool:
        return text in self.output()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s; safe to call twice."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    async def wait_logged(self, text: str, timeout: float = 20.0) -> float:
        def seen() -> bool:
            if not self.alive():
                raise RuntimeError(f"{self.args} exited:\n{self.output()[-2000:]}")
            return self.logged(text)

        return await wait_for(seen, timeout, f"{text!r} in {self.log_path.name}", poll=0.02)


class AckServer:
    """Plays the server's ingest: records every event and acknowledges it.

    Uses ``pinganling.monitor.Acker``, but flushes when its queue is empty *or* ``batch`` acks
    are pending: ``monitor --ack`` flushes only on an empty queue, so under a sustained flood it
    stops acknowledging and at 10,000 pending ids crashes (see bench/README.md). ``persistent``:
    an MQTT 5 session that outlives disconnects (``clean_start=False``, as the real ingest has).
    """

    def __init__(self, port: int, topics: Topics, *, persistent: bool, batch: int = 1000,
                 timeout: float = 1.0) -> None:
        self.port, self.topics, self.persistent = port, topics, persistent
        self.batch, self.timeout = batch, timeout  # aiomqtt's 10 s would stall a broker restart
        self.deliveries: list[Event] = []
        self._task: asyncio.Task[None] | None = None

    def back(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ack-server")

    async def away(self) -> None:
        """Disconnect (like a server being redeployed): the broker queues for the session."""
        await cancel(self._task)
        self._task = None

    async def _run(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600 if self.persistent else 0
        while True:
            with contextlib.suppress(aiomqtt.MqttError):
                login = mqtt_login()
                async with aiomqtt.Client("127.0.0.1", self.port, identifier="bench-server",
                                          username=login["username"],
                                          password=login["password"],
                                          protocol=aiomqtt.ProtocolVersion.V5,
                                          clean_start=not self.persistent, properties=props,
                                          timeout=self.timeout) as client:
                    await client.subscribe(self.topics.up("+", Up.EVENT), qos=1)
                    await self._serve(client)
            await asyncio.sleep(0.1)

    async def _serve(self, client: aiomqtt.Client) -> None:
        acker = Acker(client, self.topics)
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            try:
                event = parse(Event, payload)
            except ContractError:
                continue
            self.deliveries.append(event)
            acker.add(event)
            if len(client.messages) == 0 or sum(map(len, acker.pending.values())) >= self.batch:
                await acker.flush()
