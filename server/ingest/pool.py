"""Runs the ingest worker processes; the server's supervisor restarts any that dies."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable

from server.ingest.worker import CONNINFO_ENV, SUBSCRIBED
from server.settings import Settings

log = logging.getLogger(__name__)


def worker_env(settings: Settings, conninfo: str) -> dict[str, str]:
    """The environment a worker process reads its configuration from."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINGANLING_MQTT_")}
    env[CONNINFO_ENV] = conninfo
    for name in ("mqtt_host", "mqtt_port", "mqtt_root", "ingest_group", "ingest_batch_rows",
                 "ingest_queue", "node_id"):
        value = getattr(settings, name)
        if value is not None:
            env[f"PINGANLING_{name.upper()}"] = str(value)
    ingest = settings.broker("ingest")  # the worker gets its own identity, and no other
    env.update({"PINGANLING_MQTT_TLS": str(ingest.tls).lower(),
                **({"PINGANLING_MQTT_CA_FILE": str(ingest.ca_file)} if ingest.ca_file else {}),
                **({"PINGANLING_MQTT_USERNAME": ingest.username,
                    "PINGANLING_MQTT_PASSWORD": ingest.password or ""} if ingest.username
                   else {})})
    env["PINGANLING_INGEST_MAX_AGE"] = f"PT{settings.ingest_max_age.total_seconds()}S"
    return env


class WorkerExited(RuntimeError):
    """An ingest worker process ended by itself (crashed, killed)."""


class IngestPool:
    """``settings.ingest_workers`` telemetry and ``ingest_event_workers`` event processes.

    ``keep(role, index)`` runs one of them until it exits; the server's supervisor
    (``kernel.supervisor``) restarts it with backoff and counts the restarts.
    """

    def __init__(self, settings: Settings, conninfo: str) -> None:
        self.workers = [("events", i) for i in range(settings.ingest_event_workers)] + [
            ("telemetry", i) for i in range(settings.ingest_workers)]
        self.env = worker_env(settings, conninfo)
        self.procs: dict[tuple[str, int], asyncio.subprocess.Process] = {}
        self.ready: set[tuple[str, int]] = set()  # subscribed, as each worker last said
        self.restarts = 0

    async def keep(self, role: str, index: int,
                   started: Callable[[], None] = lambda: None) -> None:
        """Start worker ``role``/``index`` (then call ``started``) and wait for it; raise
        ``WorkerExited`` when it exits. Cancelling leaves it running: ``stop()`` ends every
        worker gracefully."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.ingest.worker", "--role", role, "--index",
            str(index), env=self.env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE)
        self.procs[(role, index)] = proc
        log.info("ingest %s worker %d started (pid %d)", role, index, proc.pid)
        started()
        try:
            assert proc.stdout is not None
            async for line in proc.stdout:  # until it exits (or closes its stdout)
                state = line.decode(errors="replace").strip()
                (self.ready.add if state == SUBSCRIBED else self.ready.discard)((role, index))
            code = await proc.wait()
        finally:
            self.ready.discard((role, index))
        self.restarts += 1
        raise WorkerExited(f"ingest {role} worker {index} (pid {proc.pid}) exited with {code}")

    async def stop(self) -> None:
        procs = [p for p in self.procs.values() if p.returncode is None]
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                p.terminate()
        for p in procs:
            try:
                await asyncio.wait_for(p.wait(), 15)
            except TimeoutError:
                p.kill()
                await p.wait()

    def alive(self) -> int:
        return sum(1 for p in self.procs.values() if p.returncode is None)

    def subscribed(self) -> int:
        """Workers that are running and subscribed: from then on nothing published is missed."""
        return sum(1 for key in self.ready if self.procs[key].returncode is None)
