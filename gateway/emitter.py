"""Events into the outbox: each is committed (fsync'd) before anything else happens to it."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

from gateway.events import EventDraft
from gateway.outbox import Outbox
from kernel.contract import Event, dump, event_id

log = logging.getLogger(__name__)

Emit = Callable[[EventDraft], int]
"""Commit one event; returns its number (what every event source is given)."""


class Emitter:
    """Numbers, stamps and stores the gateway's events; ``on_event`` sees each one stored."""

    def __init__(self, gw: str, outbox: Outbox, counters: Counter[str], *,
                 clock: Callable[[], float] = time.time,
                 on_event: Callable[[Event], None] | None = None) -> None:
        self.gw = gw
        self.outbox = outbox
        self.counters = counters
        self.clock = clock
        self.on_event = on_event

    def event_id(self, n: int) -> str:
        """The id of this gateway's event ``n`` (of its outbox's incarnation)."""
        return event_id(self.gw, self.outbox.incarnation, n)

    def emit(self, draft: EventDraft) -> int:
        """Commit ``draft`` to the outbox as the next event; returns its number."""
        ts, made = self.clock(), []

        def build(n: int) -> bytes:
            made.append(draft.payload(self.gw, self.outbox.incarnation, n, ts))
            return dump(made[0])

        n = self.outbox.add_event(build, alarm=draft.alarm)
        self.counters[f"events_{draft.type.value}"] += 1
        if self.on_event is not None:
            self.on_event(made[0])
        log.info("event %s %s from %s", made[0].id, draft.type.value, draft.device)
        return n
