"""Session tokens (cookie or bearer; only their hash is stored) and login rate limiting."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

import psycopg

from server.auth.users import User, get_user

COOKIE = "pal_session"
SESSION_TTL = timedelta(hours=12)
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=5)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(conn: psycopg.Connection[Any], user: User) -> str:
    token = secrets.token_urlsafe(32)
    conn.execute("INSERT INTO sessions (token_hash, user_id, expires_at) "
                 "VALUES (%s, %s, now() + %s)", (_hash(token), user.id, SESSION_TTL))
    return token


def session_user(conn: psycopg.Connection[Any], token: str) -> User | None:
    row = conn.execute("UPDATE sessions SET last_used = now() WHERE token_hash = %s "
                       "AND expires_at > now() RETURNING user_id", (_hash(token),)).fetchone()
    return get_user(conn, row[0]) if row else None


def close_session(conn: psycopg.Connection[Any], token: str) -> None:
    conn.execute("DELETE FROM sessions WHERE token_hash = %s", (_hash(token),))


def too_many_failures(conn: psycopg.Connection[Any], username: str, client: str) -> bool:
    row = conn.execute("SELECT count(*) FROM login_failures WHERE username = %s AND client = %s "
                       "AND ts > now() - %s", (username, client, FAILURE_WINDOW)).fetchone()
    return bool(row and row[0] >= MAX_FAILURES)


def record_failure(conn: psycopg.Connection[Any], username: str, client: str) -> None:
    """Count a failed sign-in (and forget those long past), in one transaction."""
    with conn.transaction():
        conn.execute("INSERT INTO login_failures (username, client) VALUES (%s, %s)",
                     (username, client))
        conn.execute("DELETE FROM login_failures WHERE ts < now() - %s", (FAILURE_WINDOW * 4,))
