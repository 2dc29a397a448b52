"""Durable outbox: every uplink message is committed to SQLite (WAL, fsync) before it is sent.

Events (alarms and other device events) leave only when the server's application-level ack for
their number arrives, which the server sends after its own database commit; until then they are
re-sent with backoff. Telemetry leaves on PUBACK. When the telemetry backlog exceeds its bound,
the oldest telemetry is shed (counted); events are never shed.

The outbox's state has an **incarnation**: a random id made when its database is created and
never changed after. Event numbers count within it, and event ids carry it, so a gateway whose
state is new (wiped, re-installed, replaced under the same id) never repeats an id the server
already holds, and an ack queued for the previous state (the broker keeps the session) is told
apart from one for this state (``owns``).
"""

from __future__ import annotations

import random
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from kernel.contract import Up

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    n        INTEGER PRIMARY KEY AUTOINCREMENT,  -- the event number: never reused
    kind     INTEGER NOT NULL,                   -- Kind
    channel  TEXT    NOT NULL,                   -- contract.Up value
    payload  BLOB    NOT NULL,
    created  REAL    NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL    NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (kind, next_try);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS identity (
    one          INTEGER PRIMARY KEY CHECK (one = 1),
    incarnation  TEXT    NOT NULL,  -- contract.INCARNATION_RE; made once, never changed
    created      REAL    NOT NULL,
    legacy_upto  INTEGER NOT NULL   -- rows up to this number were built without an incarnation
);
"""


def new_incarnation() -> str:
    """12 random hex characters (48 bits): two states of one gateway never share one."""
    return secrets.token_hex(6)


class Kind(IntEnum):
    """Delivery class; lower sends first."""

    ALARM = 0
    EVENT = 1
    TELEMETRY = 2


@dataclass(frozen=True, slots=True)
class Item:
    n: int
    kind: Kind
    channel: Up
    payload: bytes
    attempts: int


@dataclass(frozen=True, slots=True)
class OutboxStats:
    depth: int
    alarms: int
    events: int
    telemetry: int
    oldest_created: float | None
    shed: int
    oldest_alarm: float | None = None  # created, Unix seconds


def _stats(db: sqlite3.Connection, shed: int) -> OutboxStats:
    counts = dict.fromkeys(Kind, 0)
    for kind, count in db.execute("SELECT kind, count(*) FROM outbox GROUP BY kind"):
        counts[Kind(kind)] = count
    oldest, oldest_alarm = db.execute(
        "SELECT min(created), min(created) FILTER (WHERE kind = 0) FROM outbox WHERE kind < 2"
    ).fetchone()
    return OutboxStats(sum(counts.values()), counts[Kind.ALARM], counts[Kind.EVENT],
                       counts[Kind.TELEMETRY], oldest, shed, oldest_alarm)


def peek(path: Path) -> OutboxStats:
    """The stats of the outbox at ``path``, read-only (beside a running gateway: WAL readers
    never block its writer); sqlite3.Error if it cannot be read."""
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT value FROM counters WHERE name='shed'").fetchone()
        return _stats(db, int(row[0]) if row else 0)
    finally:
        db.close()


class Outbox:
    """A SQLite-backed queue owned by one gateway process (one writer)."""

    def __init__(self, path: Path, *, max_telemetry: int = 50_000, resend_initial_s: float = 2.0,
                 resend_max_s: float = 60.0, clock: Callable[[], float] = time.time,
                 on_added: Callable[[Kind], None] | None = None) -> None:
        """``on_added`` is called after each commit that added rows (the uplink's wake-up)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an fsync per commit: survives power loss
        self._db.executescript(SCHEMA)
        self.max_telemetry = max_telemetry
        self.resend_initial_s = resend_initial_s
        self.resend_max_s = resend_max_s
        self._clock = clock
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name='outbox'").fetchone()
        self._last_n: int = row[0] if row else 0
        self.incarnation, self.legacy_upto = self._identity()
        self._telemetry = self._count(Kind.TELEMETRY)
        self.shed = self._counter("shed")
        self.ack_delay_s = 0.0
        self.on_added = on_added or (lambda kind: None)

    def close(self) -> None:
        self._db.close()

    def _identity(self) -> tuple[str, int]:
        """This state's incarnation, made on first open. An outbox from before incarnations
        keeps its numbering; its rows up to now were built without one (``legacy_upto``)."""
        with self._tx():
            row = self._db.execute("SELECT incarnation, legacy_upto FROM identity").fetchone()
            if row is None:
                row = (new_incarnation(), self._last_n)
                self._db.execute("INSERT INTO identity VALUES (1, ?, ?, ?)",
                                 (row[0], self._clock(), row[1]))
        return str(row[0]), int(row[1])

    def owns(self, inc: str | None, n: int) -> bool:
        """Whether an ack for event ``n`` of incarnation ``inc`` is about this state's event
        (legacy acks, without ``inc``, only for the rows built before incarnations)."""
        return inc == self.incarnation if inc is not None else n <= self.legacy_upto

    # ------------------------------------------------------------------------------ writes

    def add_event(self, build: Callable[[int], bytes], *, alarm: bool,
                  channel: Up = Up.EVENT) -> int:
        """Assign the next event number, build the payload with it (and ``incarnation``),
        commit; return the number."""
        n = self._last_n + 1
        kind = Kind.ALARM if alarm else Kind.EVENT
        self._db.execute(
            "INSERT INTO outbox (n, kind, channel, payload, created) VALUES (?,?,?,?,?)",
            (n, kind, channel.value, build(n), self._clock()))
        self._last_n = n
        self.on_added(kind)
        return n

    def add_telemetry(self, messages: Iterable[tuple[Up, bytes]]) -> int:
        """Commit a batch of telemetry in one transaction; shed the oldest beyond the bound."""
        now = self._clock()
        rows = [(Kind.TELEMETRY, ch.value, payload, now) for ch, payload in messages]
        if not rows:
            return 0
        with self._tx():
            self._db.executemany(
                "INSERT INTO outbox (kind, channel, payload, created) VALUES (?,?,?,?)", rows)
            self._telemetry += len(rows)
            excess = self._telemetry - self.max_telemetry
            if excess > 0:
                self._db.execute(
                    "DELETE FROM outbox WHERE n IN (SELECT n FROM outbox WHERE kind=? "
                    "ORDER BY n LIMIT ?)", (Kind.TELEMETRY, excess))
                self._telemetry -= excess
                self.shed += excess
                self._set_counter("shed", self.shed)
        self._last_n = self._db.execute(
            "SELECT seq FROM sqlite_sequence WHERE name='outbox'").fetchone()[0]
        self.on_added(Kind.TELEMETRY)
        return len(rows)

    # ------------------------------------------------------------------------------ sending

    def due(self, limit: int, exclude: frozenset[int] = frozenset()) -> list[Item]:
        """Messages to send now: alarms first, then events, then telemetry, oldest first."""
        rows = self._db.execute(
            "SELECT n, kind, channel, payload, attempts FROM outbox WHERE next_try <= ? "
            "ORDER BY kind, n LIMIT ?", (self._clock(), limit + len(exclude))).fetchall()
        items = [Item(n, Kind(k), Up(ch), p, a) for n, k, ch, p, a in rows if n not in exclude]
        return items[:limit]

    def next_due_in(self) -> float | None:
        """Seconds until the earliest scheduled resend, or None when the outbox is empty."""
        row = self._db.execute("SELECT min(next_try) FROM outbox").fetchone()
        return None if row[0] is None else max(0.0, row[0] - self._clock())

    def mark_sent(self, items: Iterable[Item]) -> None:
        """Schedule the resend of events just published (cancelled by their ack)."""
        now = self._clock()
        rows = [(now + self._backoff(it.attempts), it.n)
                for it in items if it.kind != Kind.TELEMETRY]
        if rows:  # a schedule lost to a power cut only means an earlier resend: no fsync
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                with self._tx():
                    self._db.executemany(
                        "UPDATE outbox SET attempts = attempts + 1, next_try = ? WHERE n = ?",
                        rows)
            finally:
                self._db.execute("PRAGMA synchronous=FULL")

    def _backoff(self, attempts: int) -> float:
        initial = max(self.resend_initial_s, 4 * self.ack_delay_s)
        base = min(self.resend_max_s, initial * 2.0 ** min(attempts, 16))
        return base * random.uniform(0.8, 1.2)

    def observe_ack_delay(self, seconds: float) -> None:
        """Learn how long acks take (EWMA), so a slow server is waited for, not flooded."""
        self.ack_delay_s = 0.8 * self.ack_delay_s + 0.2 * max(0.0, seconds)

    def telemetry_published(self, ns: Iterable[int]) -> None:
        """PUBACK for telemetry: it may leave."""
        removed = self._delete(ns, Kind.TELEMETRY)
        self._telemetry -= removed

    def acked(self, ns: Iterable[int]) -> int:
        """The server committed these events: forget them. Returns how many were still here."""
        return self._delete(ns, None)

    def resend_all_now(self) -> None:
        """After a reconnect: everything not yet acknowledged is due again."""
        self._db.execute("UPDATE outbox SET next_try = 0 WHERE next_try > 0")

    def _delete(self, ns: Iterable[int], kind: Kind | None) -> int:
        ids = list(ns)
        if not ids:
            return 0
        with self._tx():
            before = self._db.total_changes
            sql = "DELETE FROM outbox WHERE n = ?" + (" AND kind = ?" if kind is not None else
                                                      " AND kind != 2")
            args = [(n, kind) if kind is not None else (n,) for n in ids]
            self._db.executemany(sql, args)
            return self._db.total_changes - before

    # ------------------------------------------------------------------------------ state

    def stats(self) -> OutboxStats:
        return _stats(self._db, self.shed)

    def pending_numbers(self, kind: Kind) -> list[int]:
        return [n for (n,) in self._db.execute("SELECT n FROM outbox WHERE kind=? ORDER BY n",
                                                (kind,))]

    def _count(self, kind: Kind) -> int:
        row = self._db.execute("SELECT count(*) FROM outbox WHERE kind=?", (kind,)).fetchone()
        return int(row[0])

    def _counter(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name=?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def _set_counter(self, name: str, value: int) -> None:
        self._db.execute("INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE "
                         "SET value=excluded.value", (name, value))

    @contextmanager
    def _tx(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
