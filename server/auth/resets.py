"""One-time password-reset codes: an admin makes one, reads it to the user (it is shown once),
and the user signs in with it, setting a new password.

A code is 12 characters of an alphabet without look-alikes (no 0/O, 1/I), shown in groups of
four (``K7QM-4XPA-9RTW``: 60 random bits), typed in any case, with or without the dashes. Only
its hash is stored. It expires after ``RESET_TTL``, works once (the first of two concurrent
uses wins), and a newer code replaces an unused older one. Making one ends the user's password
and sessions at once: a reset is also what an admin does for an account that may be known to
someone else.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from server.auth.users import User, get_user, replace_password

RESET_TTL = timedelta(hours=1)
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
LENGTH = 12


@dataclass(frozen=True, slots=True)
class Issued:
    """A new code (shown once) and when it expires."""

    code: str
    expires_at: datetime


def normalise(code: str) -> str:
    return "".join(c for c in code.upper() if c not in "- \t")


def _hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, LENGTH, 4))


def issue(conn: psycopg.Connection[Any], user_id: int, created_by: int | None) -> Issued:
    """Make a code for ``user_id`` (in the caller's transaction): unused older codes go, and
    the password stops working (it is replaced by the hash of a secret nobody knows)."""
    code = new_code()
    conn.execute("DELETE FROM password_resets WHERE user_id = %s AND used_at IS NULL",
                 (user_id,))
    row = conn.execute("INSERT INTO password_resets (user_id, code_hash, created_by, expires_at) "
                       "VALUES (%s, %s, %s, now() + %s) RETURNING expires_at",
                       (user_id, _hash(code), created_by, RESET_TTL)).fetchone()
    assert row is not None
    replace_password(conn, user_id, secrets.token_urlsafe(32))
    return Issued(code, row[0])


def redeem(conn: psycopg.Connection[Any], username: str, code: str,
           new_password: str) -> User | None:
    """Use ``username``'s code and set ``new_password`` (in the caller's transaction); the user,
    or None when the code is wrong, used, expired, or the account is inactive."""
    row = conn.execute(
        "UPDATE password_resets r SET used_at = now() FROM users u "
        "WHERE u.id = r.user_id AND u.username = %s AND u.active AND r.code_hash = %s "
        "AND r.used_at IS NULL AND r.expires_at > now() RETURNING r.user_id",
        (username, _hash(code))).fetchone()
    if row is None:
        return None
    replace_password(conn, row[0], new_password)
    return get_user(conn, row[0])


def forget_codes(conn: psycopg.Connection[Any], user_id: int) -> None:
    """Unused codes of ``user_id`` stop working (a deactivated account)."""
    conn.execute("DELETE FROM password_resets WHERE user_id = %s AND used_at IS NULL",
                 (user_id,))


def prune_codes(conn: psycopg.Connection[Any]) -> int:
    """Forget codes expired (or used) more than a day ago; how many."""
    return conn.execute("DELETE FROM password_resets WHERE expires_at < now() - interval '1 day'"
                        ).rowcount
