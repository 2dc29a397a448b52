"""One detector tick per second over every streaming wearable; the slower passes each minute.

What the detectors ask of a home's gateway (alert a wearer after a fall, withdraw that, an
inactivity pre-warning) is sent after the tick's commit, through ``server.detect.send``; a fall
prompt sent, or not, is recorded on its alert.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import psycopg

from kernel.contract import Command
from server.alerts import service
from server.alerts.model import SYSTEM, AlertError
from server.detect.activity import WearableActivity, sensor_minutes, store_minutes
from server.detect.falls import FallWatch, Outgoing
from server.detect.feed import AccFeed
from server.detect.inactivity import inactivity_pass
from server.detect.prompts import Prewarning, prewarn_command
from server.detect.send import send_command
from server.detect.vitals import vitals_pass
from server.scope import ALL
from server.settings import Settings

log = logging.getLogger(__name__)
SLOW_PASS_S = 60.0
EVENT_OVERLAP_S = 5.0

Send = Callable[[str, Command], bool]
"""Publish a command to a gateway; False when it was not sent."""


class DetectorWorker:
    """Falls, faults and activity each tick; vital signs and inactivity every minute."""

    def __init__(self, settings: Settings | None = None, *, send: Send | None = None) -> None:
        """``settings`` (None: defaults, and nothing is sent unless ``send`` is given)."""
        self.settings = settings
        cancel_s = settings.fall_cancel_window.total_seconds() if settings else 30.0
        self.send: Send | None = send if send is not None else (
            functools.partial(send_command, settings) if settings is not None else None)
        self.feed = AccFeed()
        self.falls = FallWatch(cancel_s=cancel_s)
        self.activity = WearableActivity()
        self.sensor_cursor = time.time() - EVENT_OVERLAP_S
        self.vitals_raised: set[tuple[int, str, float]] = set()
        self.inactivity_raised: set[tuple[int, str, int]] = set()
        self.prewarnings: list[Prewarning] = []
        self.counters: Counter[str] = Counter()
        self._slow_at = 0.0

    def tick(self, conn: psycopg.Connection[Any]) -> list[int]:
        """One pass; returns the alerts it opened or touched."""
        blocks = self.feed.poll(conn)
        self.counters["blocks"] += len(blocks)
        touched = self.falls.tick(conn, blocks)
        for out in self.falls.take_outgoing():
            self._send_fall(conn, out)
        sensed, self.sensor_cursor = sensor_minutes(conn, self.sensor_cursor - EVENT_OVERLAP_S)
        self.counters["activity_minutes"] += store_minutes(
            conn, self.activity.minutes(blocks) + sensed)
        if time.monotonic() - self._slow_at >= SLOW_PASS_S:
            self._slow_at = time.monotonic()
            touched += vitals_pass(conn, self.vitals_raised)
            touched += inactivity_pass(conn, int(time.time() // 60), self.inactivity_raised,
                                       self.prewarnings.append)
            self._send_prewarnings(conn)
        return touched

    def prewarn(self, conn: psycopg.Connection[Any], p: Prewarning) -> bool:
        """Ask ``p.resident``'s gateway to ask them whether they are all right (they answer by
        pressing a button; no answer: the inactivity alarm follows). False: not sent."""
        if self.send is None:
            return False
        sent = self.send(p.gateway, prewarn_command(conn, p))
        self.counters["prewarnings" if sent else "prewarnings_not_sent"] += 1
        return sent

    def _send_prewarnings(self, conn: psycopg.Connection[Any]) -> None:
        due, self.prewarnings = self.prewarnings, []
        for p in due:
            self.prewarn(conn, p)

    def _send_fall(self, conn: psycopg.Connection[Any], out: Outgoing) -> None:
        """Send a fall's command; record on its alert whether its wearer was asked."""
        if self.send is None:
            return
        sent = self.send(out.gateway, out.command)
        self.counters["wearer_prompts" if sent else "wearer_prompts_not_sent"] += out.ask
        if not out.ask or out.alert_id is None:
            return
        try:
            if sent:
                service.prompt_wearer(conn, out.alert_id, device=out.device,
                                      window_s=out.window_s, via="server", ref=out.ref)
            else:
                service.note(conn, SYSTEM, out.alert_id, "the wearer could not be alerted: the "
                             "gateway was not reached", scope=ALL,
                             data={"reason": "wearer_not_prompted"})
        except AlertError as exc:  # closed meanwhile (an operator was quicker)
            log.info("fall alert %d: wearer prompt not recorded: %s", out.alert_id, exc)
