"""Platform pieces of ``bench/alarm_latency.py``: schema, server process, seed, login, CPU.

The server is the production entry point (``python -m pinganling.cli server``: uvicorn,
``create_app(Settings())`` and its ingest worker processes) in its own session, configured through
``PINGANLING_*`` like a deployment, pointed at a fresh schema of the ``test`` database.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from _common import mqtt_login
from alarm_latency_load import FleetSpec
from psycopg import sql
from psycopg.conninfo import make_conninfo

from hardware.catalog import get_model, rf_uid
from kernel.services.postgres import create_database
from server import store
from server.alerts.model import Role
from server.auth.users import create_user
from server.directory import (
    CareTag,
    DeviceIn,
    GatewayIn,
    HomeIn,
    RegionIn,
    ResidentIn,
    add_device,
    add_gateway,
    add_home,
    add_region,
    add_resident,
)

REPO = Path(__file__).resolve().parent.parent
OPERATOR = "bench-operator"
BUTTON_MODEL = "PB-433"
WEARABLE_MODEL = "WP-BLE"


# ------------------------------------------------------------------------------ database


def database_url() -> str:
    """``PINGANLING_TEST_DATABASE_URL``, else the ``test`` database at 127.0.0.1:5432."""
    configured = os.environ.get("PINGANLING_TEST_DATABASE_URL")
    if configured:
        return configured
    local = make_conninfo(host="127.0.0.1", port=5432)
    create_database(make_conninfo(local, dbname="postgres"), "test")
    return make_conninfo(local, dbname="test")


def create_schema(url: str) -> str:
    name = f"bench_{secrets.token_hex(6)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    return name


def drop_schema(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        store.drop_schema(conn, name)


# ------------------------------------------------------------------------------ world


@dataclass(frozen=True, slots=True)
class HomeSpec:
    """A home with a gateway and one resident per panic button (distinct alert each)."""

    gateway: str
    device_ids: tuple[int, ...]

    @property
    def buttons(self) -> list[str]:
        return [rf_uid(d) for d in self.device_ids]


def home_specs(homes: int, buttons: int) -> list[HomeSpec]:
    return [HomeSpec(f"home-gw-{g:02d}", tuple(0x5A000000 + g * 0x10000 + j
                                               for j in range(buttons)))
            for g in range(homes)]


def seed(conninfo: str, homes: list[HomeSpec], fleet: FleetSpec) -> str:
    """Regions, homes, residents, gateways, buttons, wearables, an operator; their password."""
    password = secrets.token_urlsafe(12)
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        street = add_region(conn, RegionIn(name="基准街道", level="街道"))
        community = add_region(conn, RegionIn(name="基准社区", level="社区", parent_id=street))
        for g, h in enumerate(homes):
            home = add_home(conn, HomeIn(region_id=community, address=f"基准路 {g + 1} 号"))
            add_gateway(conn, GatewayIn(id=h.gateway, home_id=home))
            for j, uid in enumerate(h.buttons):
                resident = add_resident(conn, ResidentIn(home_id=home, name=f"住户 {g}-{j}",
                                                         care_tags=[CareTag.ALONE]))
                add_device(conn, DeviceIn(uid=uid, gateway_id=h.gateway, model=BUTTON_MODEL,
                                          label="床头", resident_id=resident))
        _bulk_fleet(conn, fleet)
        create_user(conn, OPERATOR, "基准值班员", Role.OPERATOR, password)
    return password


def _bulk_fleet(conn: psycopg.Connection[Any], fleet: FleetSpec) -> None:
    """The background gateways and their wearables: the columns ``add_gateway`` and
    ``add_device`` fill, in two round trips instead of ~1,700."""
    layout = fleet.layout()
    kind = get_model(WEARABLE_MODEL).kind.value
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO gateways (id, mqtt_username) VALUES (%s, %s)",
                        [(gw, gw) for gw, _ in layout])
        cur.executemany("INSERT INTO devices (uid, gateway_id, model, label, kind, paired_at) "
                        "VALUES (%s, %s, %s, '', %s, now())",
                        [(uid, gw, WEARABLE_MODEL, kind) for gw, ds in layout for uid in ds])


def login(base_url: str, password: str) -> str:
    r = httpx.post(f"{base_url}/api/auth/login", json={"username": OPERATOR,
                                                         "password": password}, timeout=10)
    r.raise_for_status()
    return str(r.json()["token"])


# ------------------------------------------------------------------------------ server


class ServerProcess:
    """``pinganling server`` in its own session; ``stop()`` ends it and its ingest workers."""

    def __init__(self, conninfo: str, mqtt_port: int, http_port: int, state: Path) -> None:
        self.http_port = http_port
        self.log_path = state / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PINGANLING_")}
        login = mqtt_login()  # the benchmark broker's superuser, for every server part
        env.update(PINGANLING_MQTT_USERNAME=login["username"] or "",
                   PINGANLING_MQTT_PASSWORD=login["password"] or "")
        env.update(PINGANLING_DATABASE_URL=conninfo, PINGANLING_MQTT_HOST="127.0.0.1",
                   PINGANLING_MQTT_PORT=str(mqtt_port), PINGANLING_HTTP_PORT=str(http_port),
                   PINGANLING_DATA_DIR=str(state / "server"), PYTHONUNBUFFERED="1")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pinganling.cli", "server", "--port", str(http_port)],
                cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, workers: int = 0, timeout: float = 45.0) -> None:
        """Until /health answers (migrations done) and, with ``workers``, is all green and that
        many ingest workers are on their shared subscriptions."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}):\n"
                                   f"{self.log()[-3000:]}")
            if self._ready(workers):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the server was not ready in {timeout:g} s:\n"
                                   f"{self.log()[-3000:]}")
            time.sleep(0.1)

    def _ready(self, workers: int) -> bool:
        try:
            health = httpx.get(f"{self.url}/health", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return False
        if not workers:
            return True
        subscribed = set(re.findall(r"ingest (\S+) connected to", self.log()))
        return bool(health.get("database") == "up" and health.get("broker") == "up"
                    and health.get("live_feed")
                    and health.get("ingest_workers", 0) >= workers
                    and len(subscribed) >= workers)

    def pids(self) -> dict[str, list[int]]:
        """The server's pid and its ingest workers' pids."""
        return {"server": [self.proc.pid], "ingest": children(self.proc.pid)}

    def stop(self) -> None:
        """SIGTERM (graceful: the server terminates its workers). uvicorn then waits for open
        WebSocket handlers, and /api/live notices a closed socket only at its next keepalive
        (≤ 15 s): after 3 s a SIGINT forces it out, and the group is terminated, then killed."""
        for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGINT, 10.0)):
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(wait)
        for sig in (signal.SIGTERM, signal.SIGKILL):  # workers left in the server's session
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                break
            time.sleep(1.0)
        self.proc.wait(5)


# ------------------------------------------------------------------------------ CPU


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if _stat(int(entry))[1] == pid:
                    out.append(int(entry))
    return out


def _stat(pid: int) -> tuple[str, int, float]:
    """(comm, ppid, CPU seconds) of a process."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return comm, int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class CpuSample:
    at: float
    machine_busy: float  # CPU seconds of every process on the machine
    groups: dict[str, dict[int, float]]  # group → pid → CPU seconds


def cpu_sample(groups: dict[str, list[int]]) -> CpuSample:
    """CPU seconds used so far by the machine, by each group of pids, and by all postgres."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    busy = (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")
    out = {name: {p: _cpu_of(p) for p in pids} for name, pids in groups.items()}
    out["postgres (all)"] = {int(e): _cpu_of(int(e)) for e in os.listdir("/proc")
                             if e.isdigit() and _comm(int(e)) == "postgres"}
    return CpuSample(time.monotonic(), busy, out)


def _cpu_of(pid: int) -> float:
    try:
        return _stat(pid)[2]
    except (OSError, ValueError, IndexError):
        return 0.0


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def cpu_percent(a: CpuSample, b: CpuSample) -> dict[str, Any]:
    """% of one core per group between two samples; a pid gone by ``b`` is left out."""
    span = max(b.at - a.at, 1e-9)
    out: dict[str, Any] = {
        name: round(100 * sum(cpu - a.groups[name].get(pid, 0.0) for pid, cpu in pids.items())
                    / span, 1)
        for name, pids in b.groups.items()}
    out["machine"] = round(100 * (b.machine_busy - a.machine_busy) / span, 1)
    out["cores"] = os.cpu_count()
    return out
