"""Gateway events: stored once per id; a repeated id is a duplicate or, with other content, a
conflict that is stored too.

An event's id is ``'<gateway>:<incarnation>:<n>'`` (legacy ``'<gateway>:<n>'``). An id the
server already holds arrives again when the gateway re-sends (the ack was lost, a reconnect):
then the content is the same and the event is a duplicate. With other content it is a
conflict — a gateway whose state was reset without a new incarnation (a legacy gateway), two
boxes sharing an id, a bug — and the newcomer is kept under ``'<id>~<variant>'``, the variant a
hash of its content, so a redelivery of the same conflicting message is itself a duplicate.
Either way every event of a batch is stored when ``insert_events`` returns: the caller may ack
them all.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

import psycopg
from psycopg.types.json import Jsonb

from kernel import contract
from server.store.writes import check_ts, validate_event

log = logging.getLogger(__name__)

# One round trip: store the events and record each gateway's incarnation (a late event of an
# earlier one, by the gateway's clock, does not switch it back). The previous incarnation is
# read from a second reference to the row (PostgreSQL 15 has no OLD in RETURNING); the UPDATE
# matches no row, and locks none, while gateways keep their incarnation.
_INSERT = """
WITH e AS MATERIALIZED (
    SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::int8[], %s::text[],
                         %s::int8[], %s::text[], %s::float8[], %s::float8[], %s::int2[],
                         %s::int4[], %s::jsonb[])
    AS e(id, gw, inc, variant, n, device, dseq, type, ts, received, rssi, battery_mv, data)),
stored AS (
    INSERT INTO events (id, gateway_id, incarnation, variant, n, device, dseq, type, ts,
                        received_at, rssi, battery_mv, data)
    SELECT e.id, e.gw, e.inc, e.variant, e.n, e.device, e.dseq, e.type, to_timestamp(e.ts),
           to_timestamp(e.received), e.rssi, e.battery_mv, e.data FROM e
    ON CONFLICT (id) DO NOTHING
    RETURNING id),
reset AS (
    UPDATE gateways g SET incarnation = u.inc, incarnation_since = u.since
    FROM gateways o, (SELECT gw, inc, to_timestamp(min(ts)) AS since FROM e WHERE inc <> ''
                      GROUP BY gw, inc) u
    WHERE g.id = u.gw AND o.id = g.id AND g.incarnation IS DISTINCT FROM u.inc
      AND (g.incarnation_since IS NULL OR u.since > g.incarnation_since)
    RETURNING g.id, o.incarnation AS was, u.inc)
SELECT 'event', id, NULL, NULL FROM stored
UNION ALL SELECT 'incarnation', id, was, inc FROM reset
"""

_STORED = """
SELECT id, device, dseq, type, extract(epoch FROM ts)::float8, rssi, battery_mv, data
FROM events WHERE id = ANY (%s)
"""

_TS_TOLERANCE_S = 1e-5  # timestamptz keeps microseconds: a float ts comes back rounded


Incarnations = list[tuple[str, str | None, str]]


class StoredEvents(NamedTuple):
    """What ``insert_events`` did with a batch; every event of it is stored afterwards."""

    new: list[contract.Event]  # stored now (a conflicting one with its derived id)
    duplicates: int  # already stored with the same content
    conflicts: int  # of ``new``: their id was taken by other content
    incarnations: Incarnations  # (gateway, previous, new): a gateway whose state is new


def insert_events(conn: psycopg.Connection[Any], events: Sequence[contract.Event],
                  received_at: float | Sequence[float]) -> StoredEvents:
    """Store a batch of events (one round trip when nothing repeats) in one transaction.

    ``received_at``: when the server received them, one time for all or one per event.
    Raises BadRow (nothing stored) when an event fails ``validate_event``.
    """
    if not events:
        return StoredEvents([], 0, 0, [])
    received = ([float(received_at)] * len(events) if isinstance(received_at, float | int)
                else list(received_at))
    if len(received) != len(events):
        raise ValueError(f"{len(received)} receive times for {len(events)} events")
    for event, at in zip(events, received, strict=True):
        validate_event(event)
        check_ts(at, "received_at")
    firsts: dict[str, tuple[contract.Event, float]] = {}
    repeats: list[tuple[contract.Event, float]] = []  # an id seen earlier in this batch
    for e, at in zip(events, received, strict=True):
        if e.id in firsts:
            repeats.append((e, at))
        else:
            firsts[e.id] = (e, at)
    with conn.transaction():
        inserted, incarnations = _insert(conn, list(firsts.values()))
        new = [e for e, _ in firsts.values() if e.id in inserted]
        taken = [x for x in firsts.values() if x[0].id not in inserted] + repeats
        conflicting = _conflicting(conn, taken)
        stored, _ = _insert(conn, [(e, at) for e, at, _ in conflicting])
        conflicts = []
        for e, _, why in conflicting:
            if e.id in stored:
                stored.discard(e.id)  # the same conflicting message twice in a batch: once
                conflicts.append(e)
                log.warning("event %s from gateway %s: its id is stored with other content "
                            "(%s differ); kept as %s (%s from %s)", e.id.split("~")[0], e.gw,
                            ", ".join(why), e.id, e.type.value, e.device)
    _log_incarnations(incarnations)
    return StoredEvents(new + conflicts, len(events) - len(new) - len(conflicts), len(conflicts),
                        incarnations)


def _insert(conn: psycopg.Connection[Any], events: Sequence[tuple[contract.Event, float]],
            ) -> tuple[set[str], Incarnations]:
    """INSERT … ON CONFLICT (id) DO NOTHING of (event, received at); the ids stored, and
    (gateway, previous, new) of each gateway whose incarnation changed."""
    if not events:
        return set(), []
    columns: list[list[Any]] = [[] for _ in range(13)]
    for e, at in events:
        tag = e.id.partition("~")[2] or None  # set on a conflicting event's derived id
        for column, value in zip(columns, (
                e.id, e.gw, e.inc or "", tag, e.n, e.device, e.dseq, e.type.value,
                e.ts, at, e.rssi, e.battery_mv, Jsonb(e.data)), strict=True):
            column.append(value)
    stored, changed = set(), []
    for kind, key, was, inc in conn.execute(_INSERT, columns):
        if kind == "event":
            stored.add(key)
        else:
            changed.append((key, was, inc))
    return stored, changed


def _conflicting(conn: psycopg.Connection[Any], taken: Sequence[tuple[contract.Event, float]],
                 ) -> list[tuple[contract.Event, float, list[str]]]:
    """Of events whose id is stored, those with other content: each under its derived id, with
    its receive time and the fields that differ."""
    if not taken:
        return []
    stored = {row[0]: row[1:] for row in conn.execute(_STORED, ([e.id for e, _ in taken],))}
    out = []
    for e, at in taken:
        why = _differences(e, stored[e.id])
        if why:
            out.append((e.model_copy(update={"id": f"{e.id}~{variant(e)}"}), at, why))
    return out


def _differences(e: contract.Event, row: tuple[Any, ...]) -> list[str]:
    device, dseq, etype, ts, rssi, battery_mv, data = row
    mine = {"device": e.device, "dseq": e.dseq, "type": e.type.value, "rssi": e.rssi,
            "battery_mv": e.battery_mv, "data": e.data}
    theirs = {"device": device, "dseq": dseq, "type": etype, "rssi": rssi,
              "battery_mv": battery_mv, "data": data}
    why = [k for k in mine if mine[k] != theirs[k]]
    return [*why, "ts"] if abs(e.ts - ts) > _TS_TOLERANCE_S else why


def variant(e: contract.Event) -> str:
    """12 hex characters of a hash of the event's content (everything but its identity)."""
    content = [e.device, e.dseq, e.type.value, e.ts, e.rssi, e.battery_mv, e.data]
    blob = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _log_incarnations(changed: Incarnations) -> None:
    for gw, old, new in changed:
        if old is None:
            log.info("gateway %s sends events of incarnation %s", gw, new)
        else:
            log.warning("gateway %s started a new incarnation %s (was %s): its state is new "
                        "(reset, re-installed or replaced)", gw, new, old)
