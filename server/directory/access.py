"""Who reads a sensitive field, and why (``Access``); ``accessed``, the one place the access
log (``server.privacy.access_log``) records it; and the key-safe code, the one sensitive read
the alert service makes (kept here, apart from the directory's input models, so the server's
runtime reaches none of the API). The other sensitive reads are in
``server.directory.sensitive``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from server.alerts.model import Actor
from server.privacy import access_log

KEY_SAFE = ("key_safe_code",)


@dataclass(frozen=True, slots=True)
class Access:
    """Who reads, and why: the alert they work on, or a directory page (``purpose``)."""

    actor: Actor
    purpose: str  # "alert", "resident_page", "export", "emergency_override", …
    alert_id: int | None = None
    reason: str = ""


def accessed(conn: psycopg.Connection[Any], access: Access, fields: Sequence[str],
             residents: Sequence[int], home_id: int | None = None) -> None:
    """A sensitive read happened: the one place the access log records it (a row in
    ``access_log``, in the caller's transaction, so the read and its row commit together)."""
    access_log.record(conn, access.actor, access.purpose, fields, residents, home_id,
                      alert_id=access.alert_id, reason=access.reason)


def key_safe_code(conn: psycopg.Connection[Any], home_id: int, access: Access) -> str | None:
    """The code of a home's key safe (None: none on record)."""
    with conn.transaction():
        row = conn.execute("SELECT key_safe_code FROM homes WHERE id = %s",
                           (home_id,)).fetchone()
        living = conn.execute("SELECT id FROM residents WHERE home_id = %s AND status NOT IN "
                              "('moved', 'deceased') ORDER BY id", (home_id,)).fetchall()
        accessed(conn, access, KEY_SAFE, [r[0] for r in living], home_id)
    return None if row is None or row[0] is None else str(row[0])
