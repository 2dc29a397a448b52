"""Poison messages: find the ones a batch fails on, and read what an unreadable event claims.

A batch that fails with anything but a lost connection is split in halves and each half retried
at once, down to single messages: the messages that still fail alone are the poison; every
other message is stored, at the cost of a few extra round trips and no waiting.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import psycopg

from kernel.contract import ALARM_TYPES, INCARNATION_RE, MAX_PAYLOAD_BYTES, Event, EventType
from kernel.storable import INT64, text_problem

T = TypeVar("T")

CONNECTION_ERRORS = (psycopg.OperationalError,)
"""The database is away: retried with backoff by the writer, never a reason to give up a message."""


def isolate(items: Sequence[T], attempt: Callable[[Sequence[T]], None]
            ) -> tuple[list[tuple[T, Exception]], int]:
    """Run ``attempt(items)``; where it raises (anything but ``CONNECTION_ERRORS``, which
    ``attempt`` must retry itself and which propagate), retry each half at once, recursively,
    in order. Returns the items that failed on their own with their errors, and the number of
    attempts made (1 when nothing failed)."""
    failed: list[tuple[T, Exception]] = []
    attempts = 0
    todo: list[Sequence[T]] = [items] if items else []
    while todo:
        part = todo.pop()
        attempts += 1
        try:
            attempt(part)
        except CONNECTION_ERRORS:
            raise
        except Exception as exc:  # noqa: BLE001 — anything else is the data's: split it up
            if len(part) == 1:
                failed.append((part[0], exc))
            else:
                half = len(part) // 2
                todo += [part[half:], part[:half]]  # the first half is tried first
    return failed, attempts


@dataclass(frozen=True, slots=True)
class Peek:
    """What an event is — type, device, number — from the event itself (``of``), or read
    best-effort from its raw JSON when it cannot be decoded (``peek_event``): the number is what
    acknowledges it to its gateway; an alarm among dead letters still raises its alert."""

    type: EventType | None = None
    device: str | None = None
    n: int | None = None
    inc: str | None = None  # the gateway's incarnation; None for a legacy event

    @property
    def alarm(self) -> bool:
        return self.type in ALARM_TYPES

    @classmethod
    def of(cls, event: Event) -> Peek:
        return cls(event.type, event.device, event.n, event.inc)


def peek_event(payload: bytes) -> Peek:
    """Read ``type``, ``device`` and ``n`` from an event's raw JSON, whatever else is wrong with
    it; what cannot be read (or cannot be stored, for the device) is None."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        return Peek()
    try:
        obj = json.loads(payload.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return Peek()
    if not isinstance(obj, dict):
        return Peek()
    raw_type, device, n = obj.get("type"), obj.get("device"), obj.get("n")
    etype = None
    if isinstance(raw_type, str):
        with contextlib.suppress(ValueError):
            etype = EventType(raw_type)
    if not (isinstance(device, str) and 3 <= len(device) <= 64 and text_problem(device) is None):
        device = None
    if not (type(n) is int and 1 <= n <= INT64[1]):
        n = None
    inc = obj.get("inc")
    if not (isinstance(inc, str) and INCARNATION_RE.match(inc)):
        inc = None
    return Peek(etype, device, n, inc)


def describe(exc: BaseException) -> str:
    """``Class (SQLSTATE): first line of the message`` for logs and dead letters."""
    state = getattr(getattr(exc, "diag", None), "sqlstate", None)
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}{f' ({state})' if state else ''}: {first}"
