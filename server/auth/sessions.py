"""Sessions: a token (cookie or bearer; only its hash is stored) standing for a signed-in user.

Each session has an id to list and end it by, and records where it came from (source address,
browser). A user's sessions end at once when they are deactivated, their password is reset or
changed (the others), or someone ends them: every request reads the session anew, and ending
one also wakes the live feeds (``wake_live_feeds``) so an open WebSocket closes too.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row

from server.alerts.feed import CHANNEL_PREFIX
from server.alerts.model import Role
from server.auth.users import User, get_user

COOKIE = "pal_session"
SESSION_TTL = timedelta(hours=12)
MAX_CLIENT = 100  # characters kept of the source address and of the browser's name
MAX_AGENT = 200


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """An active session as listed (never its token)."""

    id: int
    user_id: int
    username: str
    display_name: str
    created_at: datetime
    last_used: datetime
    expires_at: datetime
    client: str
    user_agent: str


_INFO = ("SELECT s.id, s.user_id, u.username, u.display_name, s.created_at, s.last_used, "
         "s.expires_at, s.client, s.user_agent FROM sessions s JOIN users u ON u.id = s.user_id ")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(conn: psycopg.Connection[Any], user: User, client: str = "",
                 user_agent: str = "") -> str:
    """A new session for ``user``; its token (shown once, to the client)."""
    token = secrets.token_urlsafe(32)
    with conn.transaction():
        conn.execute("INSERT INTO sessions (token_hash, user_id, expires_at, client, user_agent) "
                     "VALUES (%s, %s, now() + %s, %s, %s)",
                     (_hash(token), user.id, SESSION_TTL, client[:MAX_CLIENT],
                      user_agent[:MAX_AGENT]))
        conn.execute("UPDATE users SET last_login_at = now() WHERE id = %s", (user.id,))
    return token


def session_user(conn: psycopg.Connection[Any], token: str) -> User | None:
    """The (active) user of a live session, marking it used; None if it is gone."""
    row = conn.execute("UPDATE sessions SET last_used = now() WHERE token_hash = %s "
                       "AND expires_at > now() RETURNING user_id", (_hash(token),)).fetchone()
    return get_user(conn, row[0]) if row else None


def session_owner(conn: psycopg.Connection[Any], token: str) -> User | None:
    """Like ``session_user`` in one query, without marking the session used (the live feed's
    check on each wake)."""
    row = conn.execute(
        "SELECT u.id, u.username, u.display_name, u.role, u.language, "
        "coalesce(array_agg(r.region_id) FILTER (WHERE r.region_id IS NOT NULL), '{}') "
        "FROM sessions s JOIN users u ON u.id = s.user_id AND u.active "
        "LEFT JOIN user_regions r ON r.user_id = u.id "
        "WHERE s.token_hash = %s AND s.expires_at > now() GROUP BY u.id",
        (_hash(token),)).fetchone()
    return User(row[0], row[1], row[2], Role(row[3]), row[4], tuple(row[5])) if row else None


def session_id(conn: psycopg.Connection[Any], token: str) -> int | None:
    row = conn.execute("SELECT id FROM sessions WHERE token_hash = %s",
                       (_hash(token),)).fetchone()
    return int(row[0]) if row else None


def close_session(conn: psycopg.Connection[Any], token: str) -> None:
    """Sign out: the session ends (its live feeds close too)."""
    if conn.execute("DELETE FROM sessions WHERE token_hash = %s", (_hash(token),)).rowcount:
        wake_live_feeds(conn)


def list_sessions(conn: psycopg.Connection[Any], user_id: int | None = None,
                  ) -> list[SessionInfo]:
    """Active sessions, most recently used first: one user's, or everyone's."""
    with conn.cursor(row_factory=class_row(SessionInfo)) as cur:
        return cur.execute(_INFO + "WHERE s.expires_at > now() AND (%(user)s::bigint IS NULL "
                           "OR s.user_id = %(user)s) ORDER BY s.last_used DESC, s.id DESC",
                           {"user": user_id}).fetchall()


def end_session(conn: psycopg.Connection[Any], sid: int, user_id: int | None = None,
                ) -> SessionInfo | None:
    """End session ``sid`` (only if it is ``user_id``'s, when given); what it was, or None."""
    with conn.transaction(), conn.cursor(row_factory=class_row(SessionInfo)) as cur:
        found = cur.execute(_INFO + "WHERE s.id = %s AND (%s::bigint IS NULL OR s.user_id = %s) "
                            "FOR UPDATE OF s", (sid, user_id, user_id)).fetchone()
        if found is not None:
            conn.execute("DELETE FROM sessions WHERE id = %s", (sid,))
            wake_live_feeds(conn)
        return found


def end_user_sessions(conn: psycopg.Connection[Any], user_id: int,
                      keep: str | None = None) -> int:
    """End every session of ``user_id`` but the one of token ``keep``; how many ended."""
    cur = conn.execute("DELETE FROM sessions WHERE user_id = %s AND token_hash <> %s",
                       (user_id, _hash(keep) if keep else ""))
    if cur.rowcount:
        wake_live_feeds(conn)
    return cur.rowcount


def wake_live_feeds(conn: psycopg.Connection[Any]) -> None:
    """Wake every live feed of this schema (at commit), so sockets of ended sessions close."""
    conn.execute("SELECT pg_notify(%s || current_schema(), '{\"sessions\": true}')",
                 (CHANNEL_PREFIX,))


def prune_sessions(conn: psycopg.Connection[Any]) -> int:
    """Forget expired sessions; how many."""
    return conn.execute("DELETE FROM sessions WHERE expires_at <= now()").rowcount
