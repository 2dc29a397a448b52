"""Live alert feed over WebSocket, fed by PostgreSQL LISTEN/NOTIFY (``server.fanout``).

NOTIFY is only a wake-up: each client reads the change feed (``alert_changes``) from its own
cursor, so a missed notification, a dropped socket or another replica's change loses nothing.
A client reconnecting with ``?since=<last seq>`` receives every change after it. The session
is checked on every wake (ending a session wakes every feed): a socket whose session ended —
signed out, revoked, the user deactivated — is closed with 4401; a changed region takes effect
at once.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.encoders import jsonable_encoder

from server.alerts import queries
from server.alerts.feed import safe_head
from server.alerts.model import Role
from server.api.deps import LiveFanout, Pool
from server.auth.sessions import COOKIE, session_owner, session_user
from server.auth.users import User
from server.scope import Scope

log = logging.getLogger(__name__)
router = APIRouter(tags=["live"])
KEEPALIVE_S = 15.0
_SEQ = re.compile(r"[0-9]{1,18}")  # a bigint ``seq`` (ASCII digits; int() takes others too)
BATCH = 1000


def _token(ws: WebSocket) -> str | None:
    return ws.query_params.get("token") or ws.cookies.get(COOKIE)


def _user_for(token: str | None, pool: Any) -> User | None:
    if not token:
        return None
    with pool.connection() as conn:
        return session_user(conn, token)


def _signed_in(pool: Any, token: str) -> User | None:
    """The session's user as they are now, or None if the session ended (signed out, ended,
    the user deactivated): checked on every wake, in one query."""
    with pool.connection() as conn:
        return session_owner(conn, token)


def _changes(pool: Any, scope: Scope, cursor: int) -> tuple[int, list[dict[str, Any]], bool]:
    """Changes after ``cursor`` that ``scope`` shows, each with the alert's current summary
    (one query per batch); and whether the batch was full (more may follow at once)."""
    with pool.connection() as conn:
        page = queries.feed_page(conn, scope, cursor, BATCH)
    return page.seq, page.changes, page.full


def _head(pool: Any) -> int:
    with pool.connection() as conn:
        return safe_head(conn)


@router.websocket("/api/live")
async def live(ws: WebSocket, pool: Pool, fanout: LiveFanout) -> None:
    """Messages: ``{"type": "hello", "seq"}``, then ``{"type": "change", "seq", "action",
    "alert"}`` for every change; ``{"type": "ping", "seq"}`` when idle."""
    token = _token(ws)
    user = await asyncio.to_thread(_user_for, token, pool)
    await ws.accept()
    if user is None or token is None:  # closed after accept: the browser sees the code
        await ws.close(code=4401, reason="sign in first")
        return
    if user.role == Role.VISITOR:
        await ws.close(code=4403, reason="visitors use the visits pages only")
        return
    since = ws.query_params.get("since")
    if since and not _SEQ.fullmatch(since):
        await ws.close(code=4422, reason="since must be a sequence number from a message")
        return
    cursor = int(since) if since else await asyncio.to_thread(_head, pool)
    await ws.send_json({"type": "hello", "seq": cursor})
    wake = asyncio.Event()
    fanout.clients.add(wake)
    gone = asyncio.create_task(_closed(ws))
    try:
        await _follow(ws, pool, token, cursor, wake, gone)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        fanout.clients.discard(wake)
        gone.cancel()


async def _closed(ws: WebSocket) -> None:
    """Returns when the client goes away (we never expect anything else from it)."""
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass


async def _follow(ws: WebSocket, pool: Any, token: str, cursor: int, wake: asyncio.Event,
                  gone: asyncio.Task[None]) -> None:
    while not gone.done():
        while True:  # catch up in full batches before waiting again
            user = await asyncio.to_thread(_signed_in, pool, token)
            if user is None:
                await ws.close(code=4401, reason="signed out")
                return
            cursor, changes, full = await asyncio.to_thread(_changes, pool, Scope.of(user),
                                                            cursor)
            for change in changes:
                await ws.send_json(jsonable_encoder({"type": "change", **change}))
            if not full:
                break
        waiter = asyncio.ensure_future(wake.wait())
        await asyncio.wait({waiter, gone}, timeout=KEEPALIVE_S,
                           return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if gone.done():
            return
        if not wake.is_set():
            await ws.send_json({"type": "ping", "seq": cursor})
        wake.clear()
