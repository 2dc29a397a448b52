"""Mosquitto: use the one on localhost when reachable, otherwise run a private one."""

from __future__ import annotations

import getpass
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from kernel.services.system import ensure_binary, free_port, reachable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where an MQTT broker listens and how to log in to it."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None

    @property
    def url(self) -> str:
        auth = f"{self.username}@" if self.username else ""
        return f"mqtt://{auth}{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class BrokerOptions:
    """Settings of a private broker; the defaults suit the platform (see README, Broker)."""

    persistence: bool = True
    # Save after this many changes (None: Mosquitto's 30-min timer). Mosquitto 2.0 rewrites and
    # fsyncs its whole database each time: at 1 the broker tops out near 340 msg/s here, so it
    # saves every 1,000 changes; alarms do not depend on it (the outbox keeps them until acked).
    autosave_on_changes: int | None = 1000
    max_queued_messages: int = 1_000_000
    password_file: Path | None = None
    acl_file: Path | None = None
    extra: tuple[str, ...] = field(default_factory=tuple)


def broker_conf(port: int, data_dir: Path, options: BrokerOptions) -> str:
    lines = [
        f"listener {port} 127.0.0.1",
        f"allow_anonymous {'false' if options.password_file else 'true'}",
        f"persistence {'true' if options.persistence else 'false'}",
        f"persistence_location {data_dir}/",
        f"log_dest file {data_dir}/mosquitto.log",
        "log_type error",
        "log_type warning",
        "log_type notice",
        f"max_queued_messages {options.max_queued_messages}",
        "max_queued_bytes 0",
        "set_tcp_nodelay true",
    ]
    if options.persistence and options.autosave_on_changes:
        lines += ["autosave_on_changes true", f"autosave_interval {options.autosave_on_changes}"]
    if options.password_file:
        lines.append(f"password_file {options.password_file}")
    if options.acl_file:
        lines.append(f"acl_file {options.acl_file}")
    if os.geteuid() == 0:
        lines.append(f"user {getpass.getuser()}")  # keep access to data_dir instead of 'mosquitto'
    return "\n".join([*lines, *options.extra, ""])


class PrivateBroker:
    """A mosquitto process owned by us: start, stop, kill -9, restart on the same port."""

    def __init__(self, data_dir: Path, port: int | None = None,
                 options: BrokerOptions | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.options = options or BrokerOptions()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> BrokerAddress:
        return BrokerAddress("127.0.0.1", self.port)

    def start(self, timeout: float = 10.0) -> PrivateBroker:
        binary = ensure_binary("mosquitto", "mosquitto")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "mosquitto.conf"
        conf.write_text(broker_conf(self.port, self.data_dir, self.options))
        self.proc = subprocess.Popen([binary, "-c", str(conf)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while not reachable("127.0.0.1", self.port, timeout=0.2):
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                log_tail = self._log_tail()
                raise RuntimeError(f"mosquitto exited ({self.proc.returncode}): {err}{log_tail}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout}s")
            time.sleep(0.02)
        log.info("private mosquitto on port %d (data in %s)", self.port, self.data_dir)
        return self

    def _log_tail(self) -> str:
        path = self.data_dir / "mosquitto.log"
        return "\n" + "\n".join(path.read_text().splitlines()[-5:]) if path.exists() else ""

    def stop(self) -> None:
        """Graceful stop (SIGTERM): Mosquitto saves its persistence file."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """``kill -9``: whatever was not yet saved is gone."""
        self._signal(signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def __enter__(self) -> PrivateBroker:
        return self.start() if self.proc is None else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def local_or_private(data_dir: Path, host: str = "127.0.0.1",
                     port: int = 1883) -> tuple[BrokerAddress, PrivateBroker | None]:
    """The broker at host:port when it answers, otherwise a private one we start."""
    if reachable(host, port):
        return BrokerAddress(host, port), None
    log.info("no MQTT broker at %s:%d; starting a private mosquitto", host, port)
    broker = PrivateBroker(data_dir).start()
    return broker.address, broker
