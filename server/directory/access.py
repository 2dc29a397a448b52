"""Who reads a sensitive field, and why (``Access``); ``accessed``, the one place an access
log records it; and the key-safe code, the one sensitive read the alert service makes (kept
here, apart from the directory's input models, so the server's runtime reaches none of the
API). The other sensitive reads are in ``server.directory.sensitive``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from server.alerts.model import Actor

log = logging.getLogger(__name__)

KEY_SAFE = ("key_safe_code",)


@dataclass(frozen=True, slots=True)
class Access:
    """Who reads, and why: the alert they work on, or a directory page (``purpose``)."""

    actor: Actor
    purpose: str  # "alert", "resident_page", …
    alert_id: int | None = None


def accessed(access: Access, fields: Sequence[str], residents: Sequence[int],
             home_id: int | None = None) -> None:
    """A sensitive read happened: the one place an access log records it."""
    log.debug("sensitive read by %s (%s, alert %s): %s of residents %s, home %s",
              access.actor.name, access.purpose, access.alert_id, ", ".join(fields),
              list(residents), home_id)


def key_safe_code(conn: psycopg.Connection[Any], home_id: int, access: Access) -> str | None:
    """The code of a home's key safe (None: none on record)."""
    row = conn.execute("SELECT key_safe_code FROM homes WHERE id = %s", (home_id,)).fetchone()
    accessed(access, KEY_SAFE, [], home_id)
    return None if row is None or row[0] is None else str(row[0])
