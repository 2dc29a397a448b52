"""Outbound notifications: webhooks per region or contact, with retries and a delivery log.

``enqueue`` runs inside the transition's transaction (so a delivery exists iff the transition
committed); ``deliver_due`` is polled by the server and is safe to run on every replica
(rows are claimed with FOR UPDATE SKIP LOCKED). It posts with the ``httpx.Client`` it is given:
the runtime's (``server.jobs.Webhooks``), whose transport ``create_app`` can replace.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

import httpx
import psycopg
from psycopg.types.json import Jsonb

log = logging.getLogger(__name__)

NOTIFIED_ACTIONS = frozenset({"dispatch", "escalate"})
MAX_ATTEMPTS = 10

_MATCHING = """
SELECT w.id FROM webhooks w, alerts a
WHERE a.id = %(alert)s AND w.active AND %(action)s = ANY (w.events) AND (
    w.region_id IN (SELECT r.id FROM regions r WHERE r.id = a.region_id
                    UNION SELECT r.parent_id FROM regions r WHERE r.id = a.region_id)
    OR w.contact_id IN (SELECT c.id FROM contacts c JOIN residents p ON p.id = c.resident_id
                        WHERE p.id = a.resident_id OR p.home_id = a.home_id))
"""

_PAYLOAD = """
SELECT json_build_object('id', a.id, 'type', a.type, 'priority', a.priority, 'state', a.state,
                         'title', a.title, 'opened_at', a.opened_at, 'address', h.address,
                         'resident', r.name)
FROM alerts a LEFT JOIN homes h ON h.id = a.home_id LEFT JOIN residents r ON r.id = a.resident_id
WHERE a.id = %s
"""

_DROP_DEACTIVATED = """
UPDATE notification_deliveries d SET status = 'failed',
                                     last_error = 'the webhook was deactivated before delivery'
FROM webhooks w WHERE d.webhook_id = w.id AND d.status = 'pending' AND NOT w.active
"""

_CLAIM_DUE = """
UPDATE notification_deliveries d SET next_attempt = now() + interval '60 seconds',
                                     attempts = attempts + 1
FROM webhooks w
WHERE d.webhook_id = w.id AND d.id IN (
    SELECT id FROM notification_deliveries WHERE status = 'pending' AND next_attempt <= now()
    ORDER BY next_attempt LIMIT %s FOR UPDATE SKIP LOCKED)
RETURNING d.id, w.url, w.secret, d.payload, d.attempts
"""


def enqueue(conn: psycopg.Connection[Any], alert_id: int, action: str) -> int:
    """Queue a delivery to every matching webhook; returns how many."""
    if action not in NOTIFIED_ACTIONS:
        return 0
    hooks = [r[0] for r in conn.execute(_MATCHING, {"alert": alert_id, "action": action})]
    if not hooks:
        return 0
    row = conn.execute(_PAYLOAD, (alert_id,)).fetchone()
    payload = {"event": action, "alert": row[0] if row else {"id": alert_id}}
    for hook in hooks:
        conn.execute("INSERT INTO notification_deliveries (webhook_id, alert_id, event, payload) "
                     "VALUES (%s, %s, %s, %s)", (hook, alert_id, action, Jsonb(payload)))
    return len(hooks)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver_due(conn: psycopg.Connection[Any], client: httpx.Client, limit: int = 20) -> int:
    """POST every due delivery once; record success, or schedule a retry with backoff.
    Deliveries queued for a webhook deactivated since are marked failed, never sent."""
    with conn.transaction():
        conn.execute(_DROP_DEACTIVATED)
        due = conn.execute(_CLAIM_DUE, (limit,)).fetchall()
    for delivery_id, url, secret, payload, attempts in due:
        body = json.dumps(payload, ensure_ascii=False, default=str).encode()
        headers = {"content-type": "application/json", "x-pinganling-delivery": str(delivery_id)}
        if secret:
            headers["x-pinganling-signature"] = signature(secret, body)
        try:
            response = client.post(url, content=body, headers=headers)
            error = None if response.is_success else f"HTTP {response.status_code}"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # InvalidURL: refused before sending
            error = f"{type(exc).__name__}: {exc}"
        _record(conn, delivery_id, attempts, error)
    return len(due)


def _record(conn: psycopg.Connection[Any], delivery_id: int, attempts: int,
            error: str | None) -> None:
    if error is None:
        conn.execute("UPDATE notification_deliveries SET status = 'delivered', "
                     "delivered_at = now(), last_error = NULL WHERE id = %s", (delivery_id,))
        return
    final = attempts >= MAX_ATTEMPTS
    log.warning("webhook delivery %d attempt %d failed: %s%s", delivery_id, attempts, error,
                " (giving up)" if final else "")
    conn.execute("UPDATE notification_deliveries SET last_error = %s, status = %s, "
                 "next_attempt = now() + make_interval(secs => %s) WHERE id = %s",
                 (error, "failed" if final else "pending", min(3600, 5 * 2 ** attempts),
                  delivery_id))
