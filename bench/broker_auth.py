"""Broker access control: Mosquitto's dynamic-security plugin (what the platform uses) against
its password and ACL files reloaded with SIGHUP (the baseline), with N gateway identities.

For each mechanism, on a private Mosquitto (``kernel.services.broker.PrivateBroker``):

- ``populate_s``: making N gateway identities (plugin: a role and a client each, sent in
  batches; files: N hashed lines and one reload);
- with all N gateways connected (raw MQTT 3.1.1 sockets, one per identity), ``add_ms``: from
  the change (a command; or a line written and SIGHUP) until a new identity's login succeeds;
  ``revoke_ms``: from the change until the revoked gateway's live connection is closed by the
  broker, and ``refused``: whether its next login is refused;
- ``config_kb`` (the plugin's JSON, or the password + ACL files) and the broker's RSS.

Median and max of ``--samples`` adds and revocations. ``--quick``: N = 200, else 1,000.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import socket
import statistics
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import emit, parse_args

from kernel.contract import Topics
from kernel.services.broker import BrokerOptions, PrivateBroker
from kernel.services.dynsec import Acl, Dynsec, Login

TOPICS = Topics()
BATCH = 50  # plugin commands per message while populating


def connect_packet(client_id: str, login: Login) -> bytes:
    """An MQTT 3.1.1 CONNECT (clean session, keepalive 0: no pings needed)."""
    def s(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("!H", len(raw)) + raw
    body = s("MQTT") + bytes([4, 0b1100_0010]) + struct.pack("!H", 0) + s(client_id) + s(
        login.username) + s(login.password)
    length, encoded = len(body), b""
    while True:
        digit, length = length % 128, length // 128
        encoded += bytes([digit | (0x80 if length else 0)])
        if not length:
            break
    return b"\x10" + encoded + body


def login_socket(port: int, client_id: str, login: Login) -> socket.socket | None:
    """A connected socket when the broker accepts the login, else None."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(connect_packet(client_id, login))
    answer = b""
    while len(answer) < 4:
        chunk = sock.recv(4 - len(answer))
        if not chunk:
            break
        answer += chunk
    if len(answer) == 4 and answer[0] == 0x20 and answer[3] == 0:
        return sock
    sock.close()
    return None


def closed_by_broker(sock: socket.socket, timeout: float) -> float | None:
    """Seconds until the broker closes ``sock`` (None: still open after ``timeout``)."""
    start = time.perf_counter()
    sock.settimeout(timeout)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return None
    except OSError:
        pass
    return time.perf_counter() - start


def until(condition: Callable[[], bool], timeout: float = 30.0) -> float:
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise TimeoutError("the broker did not follow the change")
        time.sleep(0.002)
    return time.perf_counter() - start


def gw(i: int) -> str:
    return f"gw-bench-{i:05d}"


class Plugin:
    """The dynamic-security plugin: a role and a client per gateway, changed by commands."""

    name = "dynsec"

    def __init__(self, work: Path) -> None:
        self.broker = PrivateBroker(work / "dynsec", options=BrokerOptions()).start()
        self.admin = Dynsec("127.0.0.1", self.broker.port, self.broker.admin).start(wait=10)

    def _commands(self, i: int, login: Login) -> list[dict[str, Any]]:
        role = f"gateway:{gw(i)}"
        acls = [Acl(g.access.value, g.topic).json() for g in TOPICS.gateway_grants(gw(i))]
        return [{"command": "createRole", "rolename": role, "acls": acls},
                {"command": "createClient", "username": login.username, "clientid": gw(i),
                 "password": login.password, "roles": [{"rolename": role}]}]

    def populate(self, logins: dict[int, Login]) -> None:
        pending: list[dict[str, Any]] = []
        for i, login in logins.items():
            pending += self._commands(i, login)
            if len(pending) >= BATCH:
                self.admin.run(*pending)
                pending = []
        if pending:
            self.admin.run(*pending)

    def add(self, i: int, login: Login) -> None:
        self.admin.run(*self._commands(i, login))

    def revoke(self, i: int, login: Login) -> None:
        self.admin.delete_client(login.username)

    def config_bytes(self) -> int:
        return (self.broker.data_dir / "dynsec.json").stat().st_size

    def close(self) -> None:
        self.admin.stop()
        self.broker.stop()


class Files:
    """Password and ACL files (one ``%u`` pattern for every gateway), reloaded with SIGHUP."""

    name = "files"

    def __init__(self, work: Path) -> None:
        self.pw, self.acl = work / "files" / "passwd", work / "files" / "acl"
        self.pw.parent.mkdir(parents=True)
        self.lines: dict[str, str] = {}
        self.pw.write_text("")
        self.acl.write_text(TOPICS.acl())
        self.broker = PrivateBroker(work / "files", options=BrokerOptions(
            dynsec=False, password_file=self.pw, acl_file=self.acl)).start()

    @staticmethod
    def _line(login: Login) -> str:
        salt = secrets.token_bytes(12)
        digest = hashlib.pbkdf2_hmac("sha512", login.password.encode(), salt, 101)
        return (f"{login.username}:$7$101${base64.b64encode(salt).decode()}$"
                f"{base64.b64encode(digest).decode()}")

    def _write_and_reload(self) -> None:
        tmp = self.pw.with_suffix(".tmp")
        tmp.write_text("\n".join(self.lines.values()) + "\n")
        os.replace(tmp, self.pw)
        self.broker.reload()

    def populate(self, logins: dict[int, Login]) -> None:
        self.lines |= {login.username: self._line(login) for login in logins.values()}
        self._write_and_reload()

    def add(self, i: int, login: Login) -> None:
        self.lines[login.username] = self._line(login)
        self._write_and_reload()

    def revoke(self, i: int, login: Login) -> None:
        del self.lines[login.username]
        self._write_and_reload()

    def config_bytes(self) -> int:
        return self.pw.stat().st_size + self.acl.stat().st_size

    def close(self) -> None:
        self.broker.stop()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run(mechanism: Plugin | Files, n: int, samples: int) -> dict[str, Any]:
    port = mechanism.broker.port
    logins = {i: Login(gw(i), secrets.token_urlsafe(18)) for i in range(n)}
    started = time.perf_counter()
    mechanism.populate(logins)
    live: dict[int, socket.socket] = {}
    deadline = time.perf_counter() + 60
    for i, login in logins.items():  # the files' reload may still be running: retry
        while (sock := login_socket(port, gw(i), login)) is None:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{gw(i)} cannot log in")
            time.sleep(0.01)
        live[i] = sock
    populate_s = time.perf_counter() - started
    adds, revokes, refused = [], [], 0
    for k in range(samples):
        i, login = n + k, Login(gw(n + k), secrets.token_urlsafe(18))
        t0 = time.perf_counter()
        mechanism.add(i, login)
        box: list[socket.socket] = []

        def usable(i: int = i, login: Login = login, box: list[socket.socket] = box) -> bool:
            sock = login_socket(port, gw(i), login)
            if sock is not None:
                box.append(sock)
            return sock is not None

        until(usable)
        adds.append((time.perf_counter() - t0) * 1000)
        box[0].close()
        victim = k  # a gateway connected since the start
        t0 = time.perf_counter()
        mechanism.revoke(victim, logins[victim])
        gone = closed_by_broker(live.pop(victim), 10.0)
        revokes.append((time.perf_counter() - t0) * 1000 if gone is not None else float("inf"))
        refused += login_socket(port, gw(victim), logins[victim]) is None
    result = {"n": n, "populate_s": round(populate_s, 2),
              "add_ms_median": round(statistics.median(adds), 1), "add_ms_max": round(
                  max(adds), 1),
              "revoke_ms_median": round(statistics.median(revokes), 1),
              "revoke_ms_max": round(max(revokes), 1), "refused": f"{refused}/{samples}",
              "config_kb": round(mechanism.config_bytes() / 1024, 1),
              "broker_rss_mb": round(rss_kb(mechanism.broker.proc.pid) / 1024, 1)
              if mechanism.broker.proc else None}
    for sock in live.values():
        sock.close()
    return result


def main() -> None:
    args = parse_args(__doc__ or "")
    n, samples = (200, 10) if args.quick else (1000, 20)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="pal-bench-auth-") as tmp:
        for make in (Plugin, Files):
            mechanism = make(Path(tmp))
            try:
                results[mechanism.name] = run(mechanism, n, samples)
            finally:
                mechanism.close()
    lines = [f"{n} gateway identities, all connected; {samples} adds and revocations each"]
    for name, r in results.items():
        lines.append(f"  {name:7} populate {r['populate_s']:6.2f} s   add {r['add_ms_median']:7.1f}"
                     f" ms (max {r['add_ms_max']:.1f})   revoke {r['revoke_ms_median']:7.1f} ms "
                     f"(max {r['revoke_ms_max']:.1f}), login refused after {r['refused']}   "
                     f"config {r['config_kb']} kB   broker RSS {r['broker_rss_mb']} MB")
    emit(results, lines, args.json)


if __name__ == "__main__":
    main()
