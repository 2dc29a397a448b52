"""Login throttling: stops guessing, per account and per source address, without locking the
owner out.

Every sign-in attempt (a password, a reset code, the current password when changing it) is
first *admitted*: in one transaction the account's row and the source address's row of
``login_throttle`` are locked (in a fixed order) and checked. If either must still wait, the
attempt is refused (``TooManyFailures`` with the seconds to wait: 429 and ``Retry-After``) and
nothing is counted. Otherwise the attempt is counted as a failure on both rows *before* the
password is checked, so concurrent attempts can never pass the limit together; a right password
then takes it back (``succeeded``: the account starts afresh, the address forgets this one).

The first ``account_failures`` failures of an account (``address_failures`` of an address)
cost nothing; after them each further attempt waits ``first_delay``, then twice that, and so
on up to ``max_delay`` (2, 4, 8 … s). The right password is accepted whenever an attempt is
admitted, however many failures came before: there is no hard lock. Failures are forgotten
``forget_after`` the last one. A supervisor can list and clear rows (``lockouts``, ``clear``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.rows import class_row


class Subject(StrEnum):
    """What a throttle row counts the failures of."""

    ACCOUNT = "account"  # a user name (existing or not: the answer never says)
    ADDRESS = "address"  # a source address


class TooManyFailures(Exception):
    """Refused without checking the password: wait ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(f"too many failed sign-ins; try again in {self.retry_after} s")


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """How many failures cost nothing, and how long each further attempt waits."""

    account_failures: int = 5
    address_failures: int = 20
    first_delay: timedelta = timedelta(seconds=2)
    max_delay: timedelta = timedelta(minutes=15)
    forget_after: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.account_failures < 1 or self.address_failures < 1:
            raise ValueError("at least one free failure per account and per address")
        if not timedelta(0) < self.first_delay <= self.max_delay <= self.forget_after:
            raise ValueError("need 0 < first_delay <= max_delay <= forget_after")

    def free(self, kind: Subject) -> int:
        return self.account_failures if kind == Subject.ACCOUNT else self.address_failures

    def delay_s(self, kind: Subject, failures: int) -> float:
        """The wait after ``failures`` failures: none within the free ones, then doubling."""
        beyond = failures - self.free(kind)
        if beyond < 0:
            return 0.0
        first, most = self.first_delay.total_seconds(), self.max_delay.total_seconds()
        return most if beyond >= 64 else min(first * 2.0**beyond, most)


@dataclass(frozen=True, slots=True)
class Lockout:
    """A throttle row with recent failures, as a supervisor sees it."""

    kind: str
    subject: str
    failures: int
    last_failure: datetime
    next_allowed_at: datetime | None
    wait_s: float  # 0: an attempt would be admitted now
    user_id: int | None  # the account's user, if the name is one
    display_name: str | None


def admit(conn: psycopg.Connection[Any], limits: LoginLimits, account: str,
          address: str) -> None:
    """Admit one attempt for ``account`` from ``address`` and count it as a failure (until
    ``succeeded``); ``TooManyFailures`` if either must wait (nothing counted then)."""
    keys = ((Subject.ACCOUNT, account), (Subject.ADDRESS, address))
    with conn.transaction():
        conn.execute("INSERT INTO login_throttle (kind, subject) VALUES (%s, %s), (%s, %s) "
                     "ON CONFLICT DO NOTHING", [v for key in keys for v in key])
        rows = conn.execute(
            "SELECT kind, failures, coalesce(last_failure < now() - %s, true), "
            "greatest(extract(epoch FROM next_allowed_at - clock_timestamp()), 0)::float8 "
            "FROM login_throttle WHERE (kind, subject) IN ((%s, %s), (%s, %s)) "
            "ORDER BY kind, subject FOR UPDATE",
            [limits.forget_after, *[v for key in keys for v in key]]).fetchall()
        wait = max((float(r[3] or 0) for r in rows if not r[2]), default=0.0)
        if wait > 0:
            raise TooManyFailures(wait)
        subjects = dict(keys)
        for kind, failures, stale, _ in rows:
            count = 1 if stale else int(failures) + 1
            delay = limits.delay_s(Subject(kind), count)
            conn.execute(
                "UPDATE login_throttle SET failures = %s, last_failure = clock_timestamp(), "
                "next_allowed_at = clock_timestamp() + make_interval(secs => %s) "
                "WHERE kind = %s AND subject = %s",
                (count, delay, kind, subjects[Subject(kind)]))


def succeeded(conn: psycopg.Connection[Any], limits: LoginLimits, account: str,
              address: str) -> None:
    """The admitted attempt was right: the account starts afresh; the address takes back the
    failure counted for it (and its wait, if that one caused it)."""
    with conn.transaction():
        conn.execute("DELETE FROM login_throttle WHERE kind = 'account' AND subject = %s",
                     (account,))
        conn.execute("UPDATE login_throttle SET failures = greatest(failures - 1, 0), "
                     "next_allowed_at = CASE WHEN failures - 1 < %s THEN NULL "
                     "ELSE next_allowed_at END WHERE kind = 'address' AND subject = %s",
                     (limits.address_failures, address))


def lockouts(conn: psycopg.Connection[Any], limits: LoginLimits) -> list[Lockout]:
    """Accounts and addresses with failures not yet forgotten: the waiting ones first."""
    with conn.cursor(row_factory=class_row(Lockout)) as cur:
        return cur.execute(
            "SELECT t.kind, t.subject, t.failures, t.last_failure, t.next_allowed_at, "
            "greatest(coalesce(extract(epoch FROM t.next_allowed_at - now()), 0), 0)::float8 "
            "AS wait_s, u.id AS user_id, u.display_name "
            "FROM login_throttle t LEFT JOIN users u "
            "ON t.kind = 'account' AND u.username = t.subject "
            "WHERE t.failures > 0 AND t.last_failure >= now() - %s "
            "ORDER BY t.next_allowed_at > now() DESC, t.last_failure DESC LIMIT 500",
            (limits.forget_after,)).fetchall()


def clear(conn: psycopg.Connection[Any], kind: Subject, subject: str) -> bool:
    """Forget the failures of an account or address; False if it had none."""
    return conn.execute("DELETE FROM login_throttle WHERE kind = %s AND subject = %s",
                        (kind.value, subject)).rowcount == 1


def prune(conn: psycopg.Connection[Any], limits: LoginLimits) -> int:
    """Forget rows whose failures are forgotten and which no attempt holds; how many."""
    return conn.execute(
        "DELETE FROM login_throttle t USING (SELECT kind, subject FROM login_throttle "
        "WHERE (failures = 0 OR last_failure < now() - %s) "
        "AND (next_allowed_at IS NULL OR next_allowed_at < now()) "
        "LIMIT 10000 FOR UPDATE SKIP LOCKED) old "
        "WHERE t.kind = old.kind AND t.subject = old.subject",
        (limits.forget_after,)).rowcount
