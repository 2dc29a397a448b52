"""Dead letters: uplink messages the ingest could not store, kept raw with the reason why.

Whatever a message holds, its dead letter can be stored: the payload goes into ``bytea`` as
received (its first ``MAX_PAYLOAD`` bytes), and every text (topic, error) is escaped first, so a
NUL or a lone surrogate cannot make the dead letter itself fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from kernel.storable import escape_unstorable

MAX_PAYLOAD = 1 << 20
MAX_ERROR = 2000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message as received, and why it was not stored (``reason``: a counter key)."""

    topic: str
    gateway: str | None
    channel: str | None
    payload: bytes
    reason: str
    error: str
    received_at: float


def safe_text(text: str, limit: int = MAX_ERROR) -> str:
    """``text`` cut to ``limit`` characters, with what text and jsonb refuse escaped."""
    return escape_unstorable(text[:limit] + ("…" if len(text) > limit else ""))


def render_payload(payload: bytes, limit: int = 4096) -> str:
    """A raw payload as safe text: UTF-8 where it is, ``\\xNN`` for other bytes, ``\\u0000`` for
    a NUL (jsonb cannot hold one), cut at ``limit`` bytes."""
    text = payload[:limit].decode("utf-8", "backslashreplace")
    return escape_unstorable(text) + ("…" if len(payload) > limit else "")


_INSERT = """
INSERT INTO dead_letters (topic, gateway_id, channel, payload, size, reason, error, received_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, to_timestamp(%s))
RETURNING id
"""


def insert_dead_letters(conn: psycopg.Connection[Any],
                        letters: Sequence[DeadLetter]) -> list[int]:
    """Store dead letters (rare: one statement each); their ids, in order."""
    ids = []
    with conn.transaction():
        for d in letters:
            row = conn.execute(_INSERT, (
                safe_text(d.topic), None if d.gateway is None else safe_text(d.gateway, 64),
                None if d.channel is None else safe_text(d.channel, 64),
                d.payload[:MAX_PAYLOAD], len(d.payload), safe_text(d.reason, 64),
                safe_text(d.error), d.received_at)).fetchone()
            assert row is not None
            ids.append(int(row[0]))
    return ids


def link_alert(conn: psycopg.Connection[Any], dead_letter: int, alert: int) -> None:
    """Record the alert a dead letter raised."""
    conn.execute("UPDATE dead_letters SET alert_id = %s WHERE id = %s", (alert, dead_letter))
