"""Remote gateway commands from the console: each stored (who, when, op, params) before it is
sent on the gateway's ``down/cmd``, its result stored when it arrives on ``up/cmd_result``
(matched by the command id), or ``timeout`` once ``command_timeout`` passes without one.

States: ``pending`` → ``ok`` | ``failed`` (the gateway said so, or the broker did not take the
command) | ``timeout``. A result arriving after the timeout still replaces it (it is the truth).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from kernel.contract import Command, CommandArgs, CommandOp, CommandResult
from server.auth.users import User
from server.detect.send import send_command
from server.directory.records import fetch
from server.maintenance import audit, places
from server.scope import Scope
from server.settings import Settings

log = logging.getLogger(__name__)

CONSOLE_OPS = (CommandOp.STATUS, CommandOp.SCAN, CommandOp.TEST_ALARM, CommandOp.RESTART_UPLINK)
"""What the console may send (pairing, credentials and prompts have their own flows)."""
PREFIX = "mnt-"  # ids of console commands: results of other commands are not ours to store


@dataclass(frozen=True, slots=True)
class CommandRecord:
    id: str
    gateway_id: str
    op: str
    params: Any
    actor: str
    sent_at: datetime
    deadline: datetime
    state: str
    detail: str
    result: Any
    answered_at: datetime | None


_SELECT = sql.SQL("SELECT id, gateway_id, op, params, actor, sent_at, deadline, state, detail, "
                  "result, answered_at FROM gateway_commands ")


def send(conn: psycopg.Connection[Any], settings: Settings, actor: User, gateway: str,
         op: CommandOp, params: CommandArgs) -> CommandRecord:
    """Store the command and send it; ``failed`` at once when the broker did not take it."""
    cid = f"{PREFIX}{uuid.uuid4().hex[:16]}"
    with conn.transaction():
        places.gateway_in(conn, Scope.of(actor), gateway)
        conn.execute(
            "INSERT INTO gateway_commands (id, gateway_id, op, params, actor_id, actor, "
            "deadline) VALUES (%s, %s, %s, %s, %s, %s, now() + %s)",
            (cid, gateway, op.value, Jsonb(params), actor.id, actor.username,
             settings.command_timeout))
        audit.record(conn, actor, "command", "gateway", gateway, id=cid, op=op.value)
    if not send_command(settings, gateway, Command(id=cid, op=op, args=params)):
        conn.execute("UPDATE gateway_commands SET state = 'failed', detail = %s, "
                     "answered_at = now() WHERE id = %s AND state = 'pending'",
                     ("not sent: the broker did not take it", cid))
    return get(conn, cid)


def get(conn: psycopg.Connection[Any], cid: str) -> CommandRecord:
    return fetch(conn, CommandRecord, _SELECT + sql.SQL("WHERE id = %s"), (cid,))[0]


def history(conn: psycopg.Connection[Any], scope: Scope, gateway: str,
            limit: int = 50) -> list[CommandRecord]:
    """The gateway's console commands, newest first (timeouts settled first)."""
    places.gateway_in(conn, scope, gateway)
    expire(conn)
    return fetch(conn, CommandRecord, _SELECT + sql.SQL(
        "WHERE gateway_id = %s ORDER BY sent_at DESC, id LIMIT %s"), (gateway, limit))


def record_results(conn: psycopg.Connection[Any], results: list[tuple[str, CommandResult]]
                   ) -> int:
    """Store the results of console commands (the ingest's hook); returns how many matched."""
    matched = 0
    for gw, r in results:
        if not r.id.startswith(PREFIX):
            continue
        cur = conn.execute(
            "UPDATE gateway_commands SET state = %s, detail = %s, result = %s, answered_at = "
            "now() WHERE id = %s AND gateway_id = %s",
            ("ok" if r.ok else "failed", r.detail, Jsonb(r.data) if r.data else None, r.id, gw))
        matched += cur.rowcount
    return matched


def expire(conn: psycopg.Connection[Any]) -> int:
    """Commands past their deadline without a result: ``timeout``."""
    cur = conn.execute("UPDATE gateway_commands SET state = 'timeout', detail = 'no result in "
                       "time' WHERE state = 'pending' AND deadline < now()")
    if cur.rowcount:
        log.info("%d gateway command(s) timed out", cur.rowcount)
    return cur.rowcount
