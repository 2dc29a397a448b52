"""The moving parts of ``bench/ingest.py``: its schema, its child processes, the ack listener."""

from __future__ import annotations

import ast
import contextlib
import json
import multiprocessing as mp
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as paho
import psycopg
from ingest_load import Fleet, LoadSpec, generator_main
from ingest_mqtt import KEY_SHIFT
from paho.mqtt.enums import CallbackAPIVersion
from psycopg import sql
from psycopg.conninfo import make_conninfo

from kernel.contract import Topics
from kernel.services.broker import BrokerAddress
from server.settings import Settings
from server.store import apply_migrations, drop_schema, schema_conninfo

REPO = Path(__file__).resolve().parent.parent
DB_URL = os.environ.get("PINGANLING_BENCH_DATABASE_URL", "host=127.0.0.1 port=5432 dbname=test")
SPAWN = mp.get_context("spawn")


class Db:
    """The run's own schema: migrated, fleets registered, rows counted; dropped at the end."""

    def __init__(self, stack: ExitStack) -> None:
        self.schema = f"bench_{secrets.token_hex(4)}"
        with psycopg.connect(DB_URL, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {self.schema}")
        stack.callback(self.drop)
        self.conninfo = schema_conninfo(DB_URL, self.schema)
        with psycopg.connect(self.conninfo) as conn:  # PINGANLING_STORAGE_BACKEND, as the server
            apply_migrations(conn, Settings().storage_backend)
        self.conn = psycopg.connect(self.conninfo, autocommit=True)
        stack.callback(self.conn.close)

    def drop(self) -> None:
        with psycopg.connect(DB_URL, autocommit=True) as conn:
            drop_schema(conn, self.schema)

    def register(self, fleet: Fleet) -> None:
        """Provision the fleet's gateways and their buttons (unknown gateways are refused)."""
        self.conn.execute(
            "INSERT INTO gateways (id) SELECT %(t)s || '-gw-' || lpad(g::text, 6, '0')"
            " FROM generate_series(0, %(n)s - 1) g", {"t": fleet.tag, "n": fleet.gateways})
        self.conn.execute(
            "INSERT INTO devices (uid, gateway_id, model, kind) SELECT 'rf-' || id, id, 'PB-433',"
            " 'panic_button' FROM gateways WHERE id LIKE %s", (f"{fleet.tag}-gw-%",))

    def one(self, query: str, *args: object) -> Any:
        row = self.conn.execute(query, args).fetchone()
        return row[0] if row else None

    def counts(self, tag: str) -> dict[str, int]:
        """Rows of one fleet now: acc blocks, events, vitals readings."""
        like = f"{tag}-%"
        return {"acc": self.one("SELECT count(*) FROM acc_blocks WHERE device LIKE %s", like),
                "event": self.one("SELECT count(*) FROM events WHERE gateway_id LIKE %s", like),
                "vitals": self.one("SELECT count(*) FROM vitals WHERE device LIKE %s", like)}

    def inserted(self) -> int:
        """Acc rows inserted into the schema so far (statistics: ≤ 1 s late, cheap to poll)."""
        return int(self.one("SELECT coalesce(sum(n_tup_ins), 0) FROM pg_stat_user_tables"
                            " WHERE schemaname = %s AND relname LIKE 'acc\\_blocks%%'",
                            self.schema))

    def _keys(self, select: str, tag: str) -> np.ndarray:
        """The int8 column of ``select`` (a ``%s`` for the tag's LIKE pattern), distinct.

        COPY and numpy: a DISTINCT over 10⁶ fresh rows can take PostgreSQL minutes (no
        statistics yet, a parallel hash aggregate that spills).
        """
        query = sql.SQL("COPY ({}) TO STDOUT").format(
            sql.SQL(select).format(sql.Literal(f"{tag}-%")))
        with self.conn.cursor() as cur, cur.copy(query) as copy:
            data = b"".join(bytes(chunk) for chunk in copy)
        return np.unique(np.array(data.split(), dtype=np.int64))

    def stored_acc(self, tag: str) -> np.ndarray:
        """Distinct ``wearable << 32 | seq`` of the fleet's stored acc blocks."""
        return self._keys("SELECT (right(device, 6)::int8 << 32) | seq FROM acc_blocks"
                          " WHERE device LIKE {}", tag)

    def stored_events(self, tag: str) -> np.ndarray:
        """``gateway << 32 | n`` of the fleet's stored events."""
        return self._keys("SELECT (right(gateway_id, 6)::int8 << 32) | n FROM events"
                          " WHERE gateway_id LIKE {}", tag)

    def backends(self, app: str) -> list[int]:
        return [r[0] for r in self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (app,))]


Proc = subprocess.Popen[bytes] | BaseProcess
_CLIENT_ID = re.compile(r"ingest (\S+) connected to ")


class Children:
    """Every process the run starts; stopped (TERM, then KILL) however the run ends."""

    def __init__(self, stack: ExitStack) -> None:
        self.procs: list[Proc] = []
        stack.callback(self.stop_all)

    def add(self, proc: Proc) -> Proc:
        self.procs.append(proc)
        return proc

    @staticmethod
    def stop(proc: Proc, timeout: float = 15) -> None:
        if isinstance(proc, subprocess.Popen):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        elif proc.is_alive():
            proc.terminate()
            proc.join(timeout)
            if proc.is_alive():
                proc.kill()
                proc.join(5)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc, 5)


@dataclass
class Workers:
    """Ingest worker processes on one shared subscription (their own group and topic root)."""

    procs: list[subprocess.Popen[bytes]]
    logs: list[Path]
    app: str  # their PostgreSQL application_name

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    @property
    def client_ids(self) -> list[str]:
        """Their MQTT client ids, i.e. their persistent sessions (as they logged them)."""
        found = [_CLIENT_ID.search(log.read_text(errors="replace")) for log in self.logs]
        if not all(found):
            raise RuntimeError("a worker did not log its client id ('ingest <id> connected')")
        return [m.group(1) for m in found if m]

    def wait_subscribed(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        for proc, log in zip(self.procs, self.logs, strict=True):
            while "connected to" not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker did not subscribe:\n{log.read_text()[-2000:]}")
                time.sleep(0.05)

    def counters(self) -> dict[str, int]:
        """The sum of the workers' last logged counters (they log them when stopped)."""
        total: dict[str, int] = {}
        for log in self.logs:
            lines = [x for x in log.read_text(errors="replace").splitlines() if "counters {" in x]
            if lines:
                for k, v in ast.literal_eval(lines[-1].split("counters ", 1)[1]).items():
                    total[k] = total.get(k, 0) + v
        return total


def start_workers(n: int, conninfo: str, broker: BrokerAddress, root: str, tag: str, logs: Path,
                  children: Children) -> Workers:
    """``python -m server.ingest.worker --index i`` × n, configured as the server does it."""
    app = f"bench-ingest-{tag}"
    env = {**os.environ, "PINGANLING_MQTT_HOST": broker.host,
           "PINGANLING_MQTT_PORT": str(broker.port), "PINGANLING_MQTT_ROOT": root,
           "PINGANLING_MQTT_USERNAME": broker.username or "",
           "PINGANLING_MQTT_PASSWORD": broker.password or "",
           "PINGANLING_INGEST_GROUP": f"bench-{tag}", "PYTHONUNBUFFERED": "1"}
    conninfo = make_conninfo(conninfo, application_name=app)
    workers = Workers([], [logs / f"worker-{tag}-{i}.log" for i in range(n)], app)
    for i, log in enumerate(workers.logs):
        with log.open("wb") as out:
            workers.procs.append(children.add(subprocess.Popen(  # type: ignore[arg-type]
                [sys.executable, "-m", "server.ingest.worker", "--index", str(i), "--conninfo",
                 conninfo], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)))
    return workers


class Generators:
    """The load generator processes (``ingest_load.generator_main``), kept for the whole run.

    Per phase: ``start(target, spec)`` hands each its share, ``ready()`` waits until they are
    connected, ``go()`` releases them together, ``results()`` collects their figures.
    """

    def __init__(self, parts: int, children: Children) -> None:
        self.pipes: list[Connection] = []
        self.pids: list[int] = []
        for _ in range(parts):
            ours, theirs = SPAWN.Pipe()
            proc = SPAWN.Process(target=generator_main, args=(theirs,), daemon=True)
            proc.start()
            children.add(proc)
            self.pipes.append(ours)
            self.pids.append(proc.pid or 0)

    def start(self, target: str, spec: LoadSpec) -> Generators:
        for part, pipe in enumerate(self.pipes):
            pipe.send((target, replace(spec, part=part, parts=len(self.pipes))))
        return self

    def ready(self, timeout: float = 60) -> Generators:
        for pipe in self.pipes:
            self._expect(pipe, "ready", timeout)
        return self

    @staticmethod
    def _expect(pipe: Connection, what: str, timeout: float) -> Any:
        if not pipe.poll(timeout):
            raise RuntimeError(f"a generator process did not report {what!r} in {timeout} s")
        tag, value = pipe.recv()
        if tag != what:
            raise RuntimeError(f"a generator said {tag!r}, expected {what!r}")
        return value

    def go(self) -> float:
        """Release them 0.3 s from now; return that moment on ``time.monotonic``."""
        at = time.time() + 0.3
        for pipe in self.pipes:
            pipe.send(("go", at))
        return time.monotonic() + 0.3

    def results(self, timeout: float) -> list[dict[str, Any]]:
        return [self._expect(pipe, "done", timeout) for pipe in self.pipes]

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(("exit",))


class AckListener:
    """Subscribes to every gateway's ``down/ack``; collects ``gateway << 32 | n`` acked."""

    def __init__(self, broker: BrokerAddress, root: str) -> None:
        self.topics = Topics(root)
        self.keys: set[int] = set()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        broker.apply(self.client).connect(broker.host, broker.port)
        self.client.subscribe(f"{root}/gw/+/down/ack", qos=1)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("ack listener: no SUBACK")

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        gw, _ = self.topics.parse(msg.topic)
        g = int(gw[-6:])
        self.keys.update(g << KEY_SHIFT | n for n in json.loads(msg.payload)["ids"])

    def array(self) -> np.ndarray:
        return np.fromiter(list(self.keys), np.int64)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
