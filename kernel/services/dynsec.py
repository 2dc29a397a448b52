"""Mosquitto's dynamic-security plugin: its first configuration file, and a client of its API.

The plugin keeps clients (username, password, optional fixed client id, roles) and roles (ACL
lists) in a JSON file that it rewrites after each change, and takes changes at run time as JSON
commands published on ``$CONTROL/dynamic-security/v1``. Deleting or disabling a client cuts
every live connection using its username at once; a new client can log in as soon as the
plugin has answered. (Mosquitto 2.0.11 substitutes no ``%u`` / ``%c`` in role ACLs: a topic
holding one is taken literally, so each gateway gets a role of its own.)

``initial_config`` writes the file a new broker starts with: an administrator that may use the
control topic and nothing else (``mosquitto_ctrl dynsec init`` would also let it read every
topic), and any other clients and roles given. ``Dynsec`` sends commands and waits for their
answers; one instance is safe to use from several threads.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import ssl
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from kernel.services.system import MissingDependency

log = logging.getLogger(__name__)

CONTROL: Final = "$CONTROL/dynamic-security/v1"
RESPONSE: Final = f"{CONTROL}/response"
ADMIN_ROLE: Final = "dynsec-admin"
PLUGIN_NAME: Final = "mosquitto_dynamic_security.so"
PLUGIN_DIRS: Final = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                      "/usr/lib/arm-linux-gnueabihf", "/usr/lib/mosquitto", "/usr/lib",
                      "/usr/local/lib", "/opt/homebrew/lib")
ITERATIONS: Final = 101  # what the plugin itself uses for the passwords it hashes


class DynsecError(RuntimeError):
    """The plugin refused a command (``error`` is its words), or did not answer in time."""

    def __init__(self, command: str, error: str) -> None:
        super().__init__(f"{command}: {error}")
        self.command = command
        self.error = error

    @property
    def not_found(self) -> bool:
        return "not found" in self.error.lower()

    @property
    def exists(self) -> bool:
        return "already exists" in self.error.lower()


@dataclass(frozen=True, slots=True)
class Acl:
    """One ACL of a role: ``acltype`` is one of the plugin's (``publishClientSend``,
    ``publishClientReceive``, ``subscribePattern``, ``subscribeLiteral``, …)."""

    acltype: str
    topic: str
    allow: bool = True
    priority: int = 0

    def json(self) -> dict[str, Any]:
        return {"acltype": self.acltype, "topic": self.topic, "allow": self.allow,
                "priority": self.priority}


@dataclass(frozen=True, slots=True)
class Login:
    """A username and its password."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"Login({self.username!r}, password=…)"


def find_plugin() -> Path:
    """Where this machine's ``mosquitto_dynamic_security.so`` is (PINGANLING_DYNSEC_PLUGIN, or
    the usual library directories)."""
    given = os.environ.get("PINGANLING_DYNSEC_PLUGIN")
    for candidate in ([Path(given)] if given else [Path(d) / PLUGIN_NAME for d in PLUGIN_DIRS]):
        if candidate.is_file():
            return candidate
    raise MissingDependency("Mosquitto's dynamic-security plugin (mosquitto_dynamic_security.so)",
                            "sudo apt-get install -y mosquitto  # 2.0 or later")


def hashed(password: str, iterations: int = ITERATIONS) -> dict[str, Any]:
    """The plugin's stored form of ``password``: PBKDF2-HMAC-SHA512 over a random salt."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return {"password": base64.b64encode(digest).decode(), "salt": base64.b64encode(salt).decode(),
            "iterations": iterations}


def admin_acls() -> tuple[Acl, ...]:
    """The administrator's: the control topic and its answers, nothing else."""
    return (Acl("publishClientSend", CONTROL), Acl("subscribeLiteral", RESPONSE),
            Acl("publishClientReceive", RESPONSE))


def initial_config(admin: Login, clients: Iterable[tuple[Login, str]] = (),
                   roles: Mapping[str, Sequence[Acl]] | None = None) -> dict[str, Any]:
    """A new plugin file: ``admin`` (control topic only), each ``(login, role name)`` of
    ``clients``, the ``roles``; by default nothing is allowed (receiving included)."""
    all_roles = {ADMIN_ROLE: admin_acls(), **(roles or {})}
    return {
        "clients": [{"username": login.username, **hashed(login.password),
                     "roles": [{"rolename": role}]}
                    for login, role in [(admin, ADMIN_ROLE), *clients]],
        "groups": [],
        "roles": [{"rolename": name, "acls": [acl.json() for acl in acls]}
                  for name, acls in all_roles.items()],
        "defaultACLAccess": {"publishClientSend": False, "publishClientReceive": False,
                             "subscribe": False, "unsubscribe": True},
    }


def write_initial_config(path: Path, admin: Login, clients: Iterable[tuple[Login, str]] = (),
                         roles: Mapping[str, Sequence[Acl]] | None = None) -> bool:
    """Write ``initial_config`` to ``path`` (0600) unless it exists: the plugin owns it then.
    True when written."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(initial_config(admin, clients, roles), out, indent=1)
    return True


class Dynsec:
    """A connection to the plugin's control topic as its administrator.

    ``run(*commands)`` publishes them in one message and returns their answers (one dict each,
    in order), raising ``DynsecError`` for the first refused. The paho network thread
    reconnects by itself; a command sent while disconnected fails at once (``DynsecError``).
    Passwords in commands are never logged.
    """

    def __init__(self, host: str, port: int, admin: Login, *,
                 tls: ssl.SSLContext | None = None, timeout: float = 10.0,
                 client_id: str | None = None) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._client = paho.Client(CallbackAPIVersion.VERSION2,
                                   client_id=client_id or f"dynsec-{uuid.uuid4().hex[:10]}",
                                   protocol=paho.MQTTv5)
        self._client.username_pw_set(admin.username, admin.password)
        if tls is not None:
            self._client.tls_set_context(tls)
        self._client.reconnect_delay_set(1, 10)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self.ready = threading.Event()  # connected and subscribed to the answers
        self.refused: str | None = None  # why the broker refused our login, if it did

    # ------------------------------------------------------------------ connection

    def start(self, wait: float | None = None) -> Dynsec:
        """Connect in the background; with ``wait``, block until ready (DynsecError if not)."""
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()
        if wait is not None and not self.ready.wait(wait):
            self.stop()
            raise DynsecError("connect", self.refused or
                              f"no answer from {self.host}:{self.port} within {wait:g} s")
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        self.ready.clear()

    def __enter__(self) -> Dynsec:
        return self.start(wait=self.timeout) if not self.ready.is_set() else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _on_connect(self, client: paho.Client, _u: object, _f: object, rc: ReasonCode,
                    _p: object = None) -> None:
        if rc.is_failure:
            self.refused = f"the broker refused the administrator's login: {rc}"
            log.warning("dynsec: %s", self.refused)
            return
        self.refused = None
        client.subscribe(RESPONSE, qos=1)

    def _on_subscribe(self, _c: paho.Client, _u: object, _mid: int,
                      codes: list[ReasonCode], _p: object = None) -> None:
        if any(c.is_failure for c in codes):
            self.refused = f"the broker refused the subscription to {RESPONSE}: {codes}"
            log.error("dynsec: %s", self.refused)
            return
        self.ready.set()

    def _on_disconnect(self, _c: paho.Client, _u: object, _f: object, rc: ReasonCode,
                       _p: object = None) -> None:
        self.ready.clear()
        if rc.is_failure:
            log.warning("dynsec: disconnected from %s:%d: %s", self.host, self.port, rc)

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        try:
            answers = json.loads(msg.payload)["responses"]
        except (ValueError, KeyError, TypeError):
            log.warning("dynsec: unreadable answer on %s", msg.topic)
            return
        for answer in answers:
            with self._lock:
                waiting = self._waiting.get(str(answer.get("correlationData", "")))
            if waiting is not None:
                waiting[1].append(answer)
                waiting[0].set()

    # ------------------------------------------------------------------ commands

    def run(self, *commands: dict[str, Any]) -> list[dict[str, Any]]:
        """Send ``commands`` in one message; their answers in order. DynsecError for the first
        one the plugin refused (those before it were applied), or when it did not answer."""
        if not self.ready.is_set():
            raise DynsecError(commands[0]["command"] if commands else "-",
                              self.refused or f"not connected to {self.host}:{self.port}")
        tagged = [{**c, "correlationData": uuid.uuid4().hex} for c in commands]
        slots: list[tuple[str, threading.Event, list[dict[str, Any]]]] = [
            (c["correlationData"], threading.Event(), []) for c in tagged]
        with self._lock:
            for key, event, box in slots:
                self._waiting[key] = (event, box)
        try:
            info = self._client.publish(CONTROL, json.dumps({"commands": tagged}), qos=1)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise DynsecError(tagged[0]["command"], f"publish failed: {info.rc}")
            answers: list[dict[str, Any]] = []
            for (_key, event, box), command in zip(slots, tagged, strict=True):
                if not event.wait(self.timeout):
                    raise DynsecError(command["command"], f"no answer within {self.timeout:g} s")
                answers.append(box[0])
        finally:
            with self._lock:
                for key, _, _ in slots:
                    self._waiting.pop(key, None)
        for command, answer in zip(tagged, answers, strict=True):
            if answer.get("error"):
                raise DynsecError(command["command"], str(answer["error"]))
        return [a.get("data", {}) for a in answers]

    # ------------------------------------------------------------------ the commands we use

    def create_role(self, name: str, acls: Sequence[Acl]) -> None:
        self.run({"command": "createRole", "rolename": name, "acls": [a.json() for a in acls]})

    def get_role(self, name: str) -> dict[str, Any] | None:
        try:
            role: dict[str, Any] = self.run({"command": "getRole", "rolename": name})[0]["role"]
        except DynsecError as exc:
            if exc.not_found:
                return None
            raise
        return role

    def ensure_role(self, name: str, acls: Sequence[Acl]) -> bool:
        """Create role ``name`` with ``acls``, or make its ACLs exactly these; unchanged roles are
        left alone (changing one reconnects the clients that have it). True if it changed."""
        found = self.get_role(name)
        if found is None:
            self.create_role(name, acls)
            return True
        have = {(a["acltype"], a["topic"], bool(a.get("allow")), int(a.get("priority", 0)))
                for a in found.get("acls", [])}
        want = {(a.acltype, a.topic, a.allow, a.priority) for a in acls}
        if have == want:
            return False
        self.run({"command": "modifyRole", "rolename": name, "acls": [a.json() for a in acls]})
        return True

    def delete_role(self, name: str) -> bool:
        return self._deleting({"command": "deleteRole", "rolename": name})

    def create_client(self, login: Login, roles: Sequence[str], *, clientid: str | None = None,
                      textname: str = "") -> None:
        command: dict[str, Any] = {"command": "createClient", "username": login.username,
                                   "password": login.password, "textname": textname,
                                   "roles": [{"rolename": r} for r in roles]}
        if clientid:
            command["clientid"] = clientid
        self.run(command)

    def replace_client(self, login: Login, roles: Sequence[str], *, clientid: str | None = None,
                       textname: str = "") -> None:
        """Create the client afresh (deleting one of that name first: its connections are cut)."""
        self.delete_client(login.username)
        self.create_client(login, roles, clientid=clientid, textname=textname)

    def get_client(self, username: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.run({"command": "getClient",
                                              "username": username})[0]["client"]
        except DynsecError as exc:
            if exc.not_found:
                return None
            raise
        return found

    def delete_client(self, username: str) -> bool:
        """Delete the client: every connection logged in as it is cut at once. False if there
        was none."""
        return self._deleting({"command": "deleteClient", "username": username})

    def set_password(self, username: str, password: str) -> None:
        self.run({"command": "setClientPassword", "username": username, "password": password})

    def list_clients(self) -> list[str]:
        data = self.run({"command": "listClients", "verbose": False, "count": -1, "offset": 0})
        return [str(c) for c in data[0].get("clients", [])]

    def _deleting(self, command: dict[str, Any]) -> bool:
        try:
            self.run(command)
        except DynsecError as exc:
            if exc.not_found:
                return False
            raise
        return True
