"""The gateway under systemd: READY=1, WATCHDOG=1 while its supervisor is well, STOPPING=1.

systemd is played by a datagram socket of the test's own, passed as ``$NOTIFY_SOCKET`` as
systemd passes it (a path, or an ``@abstract`` name)."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.sd_notify import Watchdog, notify, watchdog_period
from kernel.contract import Topics
from kernel.services.broker import BrokerAddress
from kernel.supervisor import Supervisor, plain
from tests.fixtures.process import ManagedProcess
from tests.fixtures.waiting import eventually


@pytest.fixture
def systemd() -> Iterator[tuple[socket.socket, str]]:
    """A notify socket bound at a short path (a unix socket path has at most 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="sd-") as where:
        path = os.path.join(where, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(30)
        yield sock, path
        sock.close()


def receive_until(sock: socket.socket, done: Callable[[str], bool]) -> list[str]:
    """Datagrams until one satisfies ``done`` (the socket's timeout bounds the wait)."""
    got = []
    while True:
        got.append(sock.recv(4096).decode())
        if done(got[-1]):
            return got


def test_the_gateway_process_says_ready_feeds_the_watchdog_and_says_stopping(
        tmp_path: Path, mqtt_broker: BrokerAddress, topics: Topics) -> None:
    name = f"pinganling-test-{uuid.uuid4().hex[:8]}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)  # systemd's "@name": an abstract socket
    sock.settimeout(30)
    gw_id = f"gw-sd-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "gateway.toml"
    config.write_text(f'id = "{gw_id}"\nstate_dir = "{tmp_path / "state"}"\nble = "none"\n'
                      f'[mqtt]\nhost = "{mqtt_broker.host}"\nport = {mqtt_broker.port}\n'
                      f'root = "{topics.root}"\n')
    proc = ManagedProcess(["pinganling.cli", "gateway", "run", "-c", str(config)],
                          tmp_path / "gateway.log",
                          {"NOTIFY_SOCKET": f"@{name}", "WATCHDOG_USEC": "3000000"}).start()
    try:
        before_ready = receive_until(sock, lambda m: "READY=1" in m)
        assert len(before_ready) == 1  # READY=1 comes first, once the tasks run
        assert "STATUS=MQTT" in before_ready[0]
        pings = receive_until(sock, lambda m: m.startswith("WATCHDOG=1"))
        assert "STATUS=MQTT" in pings[-1]
        assert "outbox" in pings[-1]
        proc.stop()  # SIGTERM, as systemctl stop sends
        assert receive_until(sock, lambda m: m == "STOPPING=1")
    finally:
        proc.stop()
        sock.close()
    assert proc.proc is not None
    assert proc.proc.returncode == 0


async def test_the_watchdog_is_fed_only_while_every_task_is_healthy(
        systemd: tuple[socket.socket, str]) -> None:
    sock, path = systemd
    environ = {"NOTIFY_SOCKET": path}
    supervisor = Supervisor("test")
    async def idle() -> None:
        await asyncio.Event().wait()

    supervisor.start("idle", plain(idle))
    dog = Watchdog(supervisor, 30.0, status=lambda: "all\nwell", environ=environ)
    assert dog.interval_s == 10.0
    try:
        assert dog.beat()
        assert sock.recv(4096) == b"WATCHDOG=1\nSTATUS=all well"

        async def stuck() -> None:
            raise RuntimeError("stuck")

        supervisor.start("broken", plain(stuck))
        await eventually(lambda: supervisor.problems(), what="the broken task is unhealthy")
        assert not dog.beat()
        message = sock.recv(4096).decode()
        assert message.startswith("STATUS=unhealthy: broken: restarting after RuntimeError")
        assert "WATCHDOG=1" not in message  # so systemd restarts the gateway after WatchdogSec

        supervisor.cancel("broken")  # stop() waits for its end
        assert dog.beat()
        assert sock.recv(4096).startswith(b"WATCHDOG=1\n")
        assert (dog.pings, dog.withheld) == (2, 0)
    finally:
        await supervisor.stop()


def test_the_watchdog_period_is_the_one_systemd_gives_this_process() -> None:
    me = str(os.getpid())
    assert watchdog_period({}) is None
    assert watchdog_period({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_period({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": me}) == 30.0
    assert watchdog_period({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_period({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_period({"WATCHDOG_USEC": "soon"}) is None


def test_notify_outside_systemd_or_to_a_socket_gone_is_a_logged_no_op(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert notify("READY=1", {}) is False
    assert notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone")}) is False
    assert "could not notify systemd" in caplog.text
