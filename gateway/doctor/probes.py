"""The doctor's probes of the outside world: the broker, BlueZ, who holds a device open."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

# ------------------------------------------------------------------------------ broker


class BrokerUnreachable(Exception):
    """No TCP connection (or no TLS session) to the broker; the message says why."""

    def __init__(self, message: str, *, tls: bool = False) -> None:
        super().__init__(message)
        self.tls = tls  # the TLS session failed (TCP worked)


@dataclass(frozen=True, slots=True)
class Connack:
    """The broker's answer to our CONNECT."""

    accepted: bool
    reason: str  # MQTT 5 reason, e.g. "Success", "Bad user name or password"
    code: int


def reach(host: str, port: int, tls: ssl.SSLContext | None, timeout_s: float) -> None:
    """Open a TCP connection (and a TLS session over it, if ``tls``), then close it;
    BrokerUnreachable says which step failed and why."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except socket.gaierror as exc:
        raise BrokerUnreachable(f"cannot resolve {host!r}: {exc.strerror}") from None
    except TimeoutError:
        raise BrokerUnreachable(f"no answer from {host}:{port} within {timeout_s:g} s "
                                "(a firewall, or a wrong address)") from None
    except OSError as exc:
        raise BrokerUnreachable(f"{host}:{port}: {exc.strerror or exc}") from None
    with sock:
        if tls is None:
            return
        try:
            with tls.wrap_socket(sock, server_hostname=host):
                pass
        except ssl.SSLCertVerificationError as exc:
            raise BrokerUnreachable(f"TLS with {host}:{port}: the broker's certificate is not "
                                    f"trusted: {exc.verify_message}", tls=True) from None
        except (ssl.SSLError, OSError) as exc:
            raise BrokerUnreachable(f"TLS with {host}:{port} failed: {exc} (is it a TLS "
                                    "listener?)", tls=True) from None


def mqtt_connack(host: str, port: int, *, client_id: str, username: str | None,
                 password: str | None, tls: ssl.SSLContext | None,
                 timeout_s: float) -> Connack:
    """Send an MQTT 5 CONNECT (clean start, no session kept) and return the CONNACK.

    ``client_id`` must not be the gateway's own: the broker would disconnect the running
    gateway to let us in."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=MQTTProtocolVersion.MQTTv5, reconnect_on_failure=False)
    if username is not None:
        client.username_pw_set(username, password)
    if tls is not None:
        client.tls_set_context(tls)
    client.connect_timeout = timeout_s
    answers: list[ReasonCode] = []
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.append(reason)
    try:
        client.connect(host, port, keepalive=max(5, int(timeout_s) * 2), clean_start=True)
    except ssl.SSLError as exc:
        raise BrokerUnreachable(f"TLS with {host}:{port} failed: {exc.reason or exc}",
                                tls=True) from None
    except (OSError, ValueError) as exc:
        what = "TLS handshake" if tls is not None else "connection"
        raise BrokerUnreachable(f"{what} with {host}:{port} failed: {exc}") from None
    deadline = time.monotonic() + timeout_s
    try:
        while not answers and time.monotonic() < deadline:
            rc = client.loop(timeout=0.1)
            if rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN):
                break  # the broker closed the connection
        if not answers:
            raise BrokerUnreachable(f"{host}:{port} accepted the connection but sent no CONNACK "
                                    f"within {timeout_s:g} s (is it an MQTT 5 broker?)")
        reason = answers[0]
        return Connack(not reason.is_failure, str(reason), reason.value)
    finally:
        client.disconnect()
        client.loop(timeout=0.1)
        sock = client.socket()
        if sock is not None:
            sock.close()


# ------------------------------------------------------------------------------ BlueZ


class BluezUnavailable(Exception):
    """BlueZ could not be asked; the message says why."""


@dataclass(frozen=True, slots=True)
class Adapter:
    path: str  # /org/bluez/hci0
    address: str
    powered: bool


async def _bluez_adapters(timeout_s: float) -> list[Adapter]:
    from dbus_fast import BusType, Message, MessageType
    from dbus_fast.aio import MessageBus

    try:
        bus = await asyncio.wait_for(MessageBus(bus_type=BusType.SYSTEM).connect(), timeout_s)
    except (OSError, TimeoutError, ValueError) as exc:
        raise BluezUnavailable(f"cannot reach the system D-Bus: {exc or type(exc).__name__}")\
            from None
    try:
        reply = await asyncio.wait_for(bus.call(Message(
            destination="org.bluez", path="/", interface="org.freedesktop.DBus.ObjectManager",
            member="GetManagedObjects")), timeout_s)
    finally:
        bus.disconnect()
    if reply is None or reply.message_type == MessageType.ERROR:
        name = reply.error_name if reply is not None else "no reply"
        detail = reply.body[0] if reply is not None and reply.body else ""
        raise BluezUnavailable(f"{name}: {detail}".rstrip(": "))
    objects: dict[str, dict[str, dict[str, Any]]] = reply.body[0]
    adapters = []
    for path, interfaces in sorted(objects.items()):
        props = interfaces.get("org.bluez.Adapter1")
        if props is not None:
            adapters.append(Adapter(path, str(props["Address"].value),
                                    bool(props["Powered"].value)))
    return adapters


def bluez_adapters(timeout_s: float) -> list[Adapter]:
    """The adapters BlueZ manages, asked over the system D-Bus (as bleak does)."""
    try:
        return asyncio.run(_bluez_adapters(timeout_s))
    except TimeoutError:
        raise BluezUnavailable(f"BlueZ did not answer within {timeout_s:g} s") from None


# ------------------------------------------------------------------------------ processes


@dataclass(frozen=True, slots=True)
class Holder:
    pid: int
    command: str


def holders(device: Path, proc: Path = Path("/proc")) -> list[Holder]:
    """The other processes that have ``device`` open (those this user may look into)."""
    target = os.path.realpath(device)
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) == target:
                    command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                        errors="replace").strip()
                    found.append(Holder(int(entry.name), command or entry.name))
                    break
            except OSError:
                continue
    return found
