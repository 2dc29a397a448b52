"""One detector tick per second over every streaming wearable; the slower passes each minute."""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from typing import Any

import psycopg

from kernel.contract import Command, CommandOp, Down, dump
from kernel.services.broker import publish_once
from server.detect.activity import WearableActivity, sensor_minutes, store_minutes
from server.detect.falls import FallWatch
from server.detect.feed import AccFeed
from server.detect.inactivity import inactivity_pass
from server.detect.vitals import vitals_pass
from server.settings import Settings

log = logging.getLogger(__name__)
SLOW_PASS_S = 60.0
EVENT_OVERLAP_S = 5.0


class DetectorWorker:
    """Falls, faults and activity each tick; vital signs and inactivity every minute."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings
        self.feed = AccFeed()
        self.falls = FallWatch()
        self.activity = WearableActivity()
        self.sensor_cursor = time.time() - EVENT_OVERLAP_S
        self.vitals_raised: set[tuple[int, str, float]] = set()
        self.inactivity_raised: set[tuple[int, str, int]] = set()
        self.counters: Counter[str] = Counter()
        self._slow_at = 0.0

    def tick(self, conn: psycopg.Connection[Any]) -> list[int]:
        """One pass; returns the alerts it opened or touched."""
        blocks = self.feed.poll(conn)
        self.counters["blocks"] += len(blocks)
        touched = self.falls.tick(conn, blocks)
        sensed, self.sensor_cursor = sensor_minutes(conn, self.sensor_cursor - EVENT_OVERLAP_S)
        self.counters["activity_minutes"] += store_minutes(
            conn, self.activity.minutes(blocks) + sensed)
        if time.monotonic() - self._slow_at >= SLOW_PASS_S:
            self._slow_at = time.monotonic()
            touched += vitals_pass(conn, self.vitals_raised)
            touched += inactivity_pass(conn, int(time.time() // 60), self.inactivity_raised,
                                       self.prewarn)
        return touched

    def prewarn(self, gateway: str, resident: int) -> None:
        """Ask the home's gateway to warn the resident (they cancel by pressing the button)."""
        s = self.settings
        if s is None:
            return
        cmd = Command(id=f"prewarn-{uuid.uuid4().hex[:12]}", op=CommandOp.PREWARN,
                      args={"resident": resident})
        try:
            publish_once(s.broker("api"), s.topics().down(gateway, Down.CMD), dump(cmd))
            self.counters["prewarnings"] += 1
        except ConnectionError as exc:
            log.warning("pre-warning to %s not sent: %s", gateway, exc)
