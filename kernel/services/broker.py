"""Mosquitto: where a broker is and how to log in to it (``BrokerAddress``, TLS included), and
private brokers we run ourselves (``PrivateBroker``), closed to anonymous clients.

A private broker's clients are managed by Mosquitto's dynamic-security plugin
(``kernel.services.dynsec``): at its first start it gets an administrator (control topic only)
and, for tests and benchmarks, optionally a *superuser* allowed every topic. Their passwords are
generated once and kept (0600) in ``<data_dir>/logins.json``; ``PrivateBroker.login(name)``
makes and keeps more (the demo's service identities), which whoever administers the broker
creates through the plugin.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import secrets
import signal
import ssl
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from kernel.services.dynsec import Acl, Login, find_plugin, write_initial_config
from kernel.services.system import ensure_binary, free_port, reachable

log = logging.getLogger(__name__)

SUPERUSER_ROLE = "superuser"


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where an MQTT broker listens and how to log in to it; ``tls``: connect over TLS,
    verifying the broker against ``ca_file`` (None: the system's trusted CAs)."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: Path | None = None

    @property
    def url(self) -> str:
        auth = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{auth}{self.host}:{self.port}"

    @property
    def login(self) -> Login | None:
        return Login(self.username, self.password or "") if self.username else None

    def as_user(self, login: Login | None) -> BrokerAddress:
        """The same broker, logged in as ``login`` (None: anonymously)."""
        return replace(self, username=login.username if login else None,
                       password=login.password if login else None)

    def apply(self, client: paho.Client) -> paho.Client:
        """Set ``client`` (paho) up to log in here: credentials, and TLS when on."""
        if self.username:
            client.username_pw_set(self.username, self.password)
        context = self.tls_context()
        if context is not None:
            client.tls_set_context(context)
        return client

    def aiomqtt_args(self) -> dict[str, Any]:
        """``aiomqtt.Client(**address.aiomqtt_args(), …)``: where, who, and TLS."""
        return {"hostname": self.host, "port": self.port, "username": self.username,
                "password": self.password, "tls_context": self.tls_context()}

    def tls_context(self) -> ssl.SSLContext | None:
        """What paho (``tls_set_context``) and aiomqtt (``tls_context=``) connect with; None
        without TLS. The broker's certificate and host name are always verified."""
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    def __repr__(self) -> str:
        return f"BrokerAddress({self.url!r})"


def publish_once(address: BrokerAddress, topic: str, payload: bytes, *, qos: int = 1,
                 retain: bool = False, expiry_s: int | None = None,
                 timeout: float = 10.0) -> None:
    """Connect as ``address``'s identity, publish one message, wait for the broker's PUBACK,
    disconnect. ``ConnectionError`` when it was not delivered (refused, unreachable, denied)."""
    client = address.apply(paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5))
    props = None
    if expiry_s is not None:
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.MessageExpiryInterval = expiry_s
    try:
        client.connect(address.host, address.port, keepalive=30)
    except (OSError, ssl.SSLError) as exc:
        raise ConnectionError(f"{address.url}: {exc}") from exc
    client.loop_start()
    try:
        info = client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise ConnectionError(f"{address.url}: {topic} not acknowledged within {timeout:g} s")
    except (RuntimeError, ValueError) as exc:  # paho: not connected, queue full
        raise ConnectionError(f"{address.url}: {exc}") from exc
    finally:
        client.disconnect()
        client.loop_stop()


@dataclass(frozen=True, slots=True)
class BrokerTls:
    """A TLS listener: the broker's certificate (chain) and key; ``port`` None: a free one."""

    certfile: Path
    keyfile: Path
    port: int | None = None


@dataclass(frozen=True, slots=True)
class BrokerOptions:
    """Settings of a private broker; the defaults suit the platform (see README, Broker)."""

    persistence: bool = True
    # Save after this many changes (None: Mosquitto's 30-min timer). Mosquitto 2.0 rewrites and
    # fsyncs its whole database each time: at 1 the broker tops out near 340 msg/s here, so it
    # saves every 1,000 changes; alarms do not depend on it (the outbox keeps them until acked).
    autosave_on_changes: int | None = 1000
    max_queued_messages: int = 1_000_000
    # Who may log in: the dynamic-security plugin (the default; its file is
    # <data_dir>/dynsec.json), or Mosquitto's password and ACL files (reloaded on SIGHUP).
    dynsec: bool = True
    superuser: bool = False  # a client allowed every topic: tests and benchmarks only
    password_file: Path | None = None
    acl_file: Path | None = None
    anonymous: bool = False  # never in the platform; a test that needs it says why
    tls: BrokerTls | None = None
    plain: bool = True  # the plain listener (False: TLS only)
    extra: tuple[str, ...] = field(default_factory=tuple)


def broker_conf(port: int, data_dir: Path, options: BrokerOptions,
                tls_port: int | None = None) -> str:
    """``mosquitto.conf`` of a private broker: listeners on 127.0.0.1 only."""
    lines = [f"listener {port} 127.0.0.1"] if options.plain else []
    if options.tls and tls_port:
        lines += [f"listener {tls_port} 127.0.0.1", f"certfile {options.tls.certfile}",
                  f"keyfile {options.tls.keyfile}"]
    lines += [
        f"allow_anonymous {'true' if options.anonymous else 'false'}",
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
    if options.dynsec:
        lines += [f"plugin {find_plugin()}", f"plugin_opt_config_file {data_dir / 'dynsec.json'}"]
    if options.password_file:
        lines.append(f"password_file {options.password_file}")
    if options.acl_file:
        lines.append(f"acl_file {options.acl_file}")
    if os.geteuid() == 0:
        lines.append(f"user {getpass.getuser()}")  # keep access to data_dir instead of 'mosquitto'
    return "\n".join([*lines, *options.extra, ""])


def superuser_acls() -> tuple[Acl, ...]:
    """Every topic (``#`` matches no ``$`` topic: not the control topic, nor ``$SYS``)."""
    return (Acl("publishClientSend", "#"), Acl("publishClientReceive", "#"),
            Acl("subscribePattern", "#"), Acl("subscribePattern", "$share/#"))


class PrivateBroker:
    """A mosquitto process owned by us: start, stop, kill -9, restart on the same port.

    ``address`` logs in as the superuser when the options have one (tests, benchmarks), else
    as nobody (give it a login with ``address.as_user``); ``admin`` administers the plugin.
    """

    def __init__(self, data_dir: Path, port: int | None = None,
                 options: BrokerOptions | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.options = options or BrokerOptions()
        self.tls_port = (self.options.tls.port or free_port()) if self.options.tls else None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> BrokerAddress:
        login = self.login("superuser") if self.options.superuser else None
        return BrokerAddress("127.0.0.1", self.port).as_user(login)

    @property
    def admin(self) -> Login:
        """The dynamic-security plugin's administrator (the control topic only)."""
        return self.login("admin")

    def login(self, name: str) -> Login:
        """The login called ``name``: its password is generated the first time and kept in
        ``<data_dir>/logins.json`` (0600). Only ``admin`` and ``superuser`` exist in the
        broker by themselves; create others through the plugin."""
        path = self.data_dir / "logins.json"
        saved: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        if name not in saved:
            saved[name] = secrets.token_urlsafe(18)
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(saved, out)
            os.replace(path.with_suffix(".tmp"), path)
        return Login(name, saved[name])

    def start(self, timeout: float = 10.0) -> PrivateBroker:
        binary = ensure_binary("mosquitto", "mosquitto")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.options.dynsec:
            superuser = [(self.login("superuser"), SUPERUSER_ROLE)] if self.options.superuser \
                else []
            write_initial_config(self.data_dir / "dynsec.json", self.admin, superuser,
                                 {SUPERUSER_ROLE: superuser_acls()} if superuser else None)
        conf = self.data_dir / "mosquitto.conf"
        conf.write_text(broker_conf(self.port, self.data_dir, self.options, self.tls_port))
        listening = self.port if self.options.plain else self.tls_port
        assert listening is not None
        # its own session: a Ctrl-C at the terminal reaches its owner, which stops it last,
        # after everything that talks through it (not all at once)
        self.proc = subprocess.Popen([binary, "-c", str(conf)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while not reachable("127.0.0.1", listening, timeout=0.2):
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                log_tail = self._log_tail()
                raise RuntimeError(f"mosquitto exited ({self.proc.returncode}): {err}{log_tail}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout}s")
            time.sleep(0.02)
        log.info("private mosquitto on port %d (data in %s)", listening, self.data_dir)
        return self

    def _log_tail(self) -> str:
        path = self.data_dir / "mosquitto.log"
        return "\n" + "\n".join(path.read_text().splitlines()[-5:]) if path.exists() else ""

    def reload(self) -> None:
        """SIGHUP: Mosquitto reads its configuration again (password and ACL files too)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGHUP)

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
