"""The live feed's fan-out: one LISTEN connection per server process wakes every client.

NOTIFY on the schema's alert channel is only a wake-up (``server.alerts.feed``): each
``/api/live`` socket reads the change feed from its own cursor. After a lost connection the
listener reconnects with backoff and wakes everyone once it listens again, so nothing that
happened in between is missed. ``listening`` is the supervisor's readiness flag.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg
from psycopg import sql

from kernel.backoff import Backoff
from kernel.supervisor import Flag
from server.alerts.feed import channel

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 10


class Fanout:
    """One LISTEN connection per server process; wakes every connected client."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.clients: set[asyncio.Event] = set()
        self.listening = Flag()

    def wake_all(self) -> None:
        for event in self.clients:
            event.set()

    async def run(self) -> None:
        backoff = Backoff(initial=0.5, maximum=10.0)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                        self.conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
                    cur = await conn.execute("SELECT current_schema()")
                    row = await cur.fetchone()
                    assert row is not None
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel(row[0]))))
                    self.listening.set()
                    backoff.reset()
                    self.wake_all()  # whatever happened while we were not listening
                    async for _ in conn.notifies():
                        self.wake_all()
            except psycopg.OperationalError as exc:
                log.warning("live feed: LISTEN connection lost: %s", exc)
            finally:
                self.listening.clear()
            await backoff.sleep()
