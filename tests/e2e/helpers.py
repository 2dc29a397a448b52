"""What the console tests do besides clicking: sign in, raise alerts, shape the data."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from playwright.sync_api import Locator, Page

from kernel.contract import AccBlock, EventType, VitalReading, Vitals
from server.alerts import engine
from server.store import ActivityMinute, copy_acc_blocks, copy_activity, copy_vitals, insert_events
from tests.fixtures.ingest import make_event
from tests.fixtures.stack import Stack
from tests.fixtures.world import BUTTON, CORD, GATEWAY, PASSWORD, PENDANT, World

_n = itertools.count(10_000)


def sign_in(page: Page, stack: Stack, username: str) -> None:
    """Open the console and sign in through its form, as an operator does."""
    page.goto(stack.url + "/")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("app").wait_for(state="visible")


def row(page: Page, alert_id: int) -> Locator:
    return page.locator(f'[data-testid="queue-row"][data-alert-id="{alert_id}"]')


def raise_event(world: World, etype: EventType = EventType.PRESS, device: str = BUTTON,
                ts: float | None = None, **data: Any) -> int:
    """Store a device event and run the alert engine on it, as ingest does; the alert's id."""
    n = next(_n)
    event = make_event(GATEWAY, n, etype, device).model_copy(
        update={"ts": ts or time.time(), "data": data})
    with world.connect() as conn, conn.transaction():
        insert_events(conn, [event], time.time())
        return engine.on_events(conn, [event])[0]


def backdate(world: World, alert_id: int, seconds: float) -> None:
    """Pretend the alarm was raised ``seconds`` ago (no change is announced by this alone)."""
    with world.connect() as conn:
        conn.execute("UPDATE alerts SET opened_at = now() - make_interval(secs => %s) "
                     "WHERE id = %s", (seconds, alert_id))


def seed_day(world: World, device: str = PENDANT) -> None:
    """24 h of the pendant's heart rate, SpO2 (off the wrist 02:00–05:00 ago) and activity."""
    now = time.time()
    readings = []
    for i in range(0, 24 * 60, 10):  # every 10 minutes
        ts = now - 24 * 3600 + i * 60 + 30
        hours_ago = (now - ts) / 3600
        worn = not 19 <= hours_ago <= 22
        readings.append(VitalReading(
            ts=ts, contact=worn, hr=round(70 + 8 * math.sin(i / 90)) if worn else 0,
            spo2=round(96.5 + 1.5 * math.sin(i / 200), 1) if worn else None))
    with world.connect() as conn:
        for chunk in range(0, len(readings), 500):
            copy_vitals(conn, [Vitals(gw=GATEWAY, device=device,
                                      readings=readings[chunk:chunk + 500])])
        copy_activity(conn, [ActivityMinute(device, now - 24 * 3600 + m * 60, "wearable",
                                            int(40 + 35 * math.sin(m / 120)) if m % 3 else 0)
                             for m in range(0, 24 * 60, 2)])


def seed_fall(world: World, at: float, device: str = PENDANT) -> None:
    """The pendant's accelerometer around ``at``: still, a 3.4 g impact, lying still."""
    rate, scale = 50.0, 1 / 256
    blocks = []
    for k in range(-25, 45):  # one-second blocks
        t = np.arange(50) / rate + k
        g = np.where(t < 0, 1.0, 0.95)
        g = g + np.where((t >= 0) & (t < 0.3), 2.4 * np.sin(np.pi * t / 0.3), 0)
        g = g + 0.03 * np.sin(t * 9)
        samples = np.zeros((50, 3), dtype=np.int16)
        samples[:, 2] = np.round(g / scale).astype(np.int16)
        t0_us = int((at + k) * 1e6)
        blocks.append((AccBlock(device, t0_us, k + 100, rate, scale, samples), at + k + 1))
    with world.connect() as conn:
        copy_acc_blocks(conn, blocks)


def low_battery(world: World) -> int:
    """A P3 technical alert: the bathroom pull-cord's battery."""
    return raise_event(world, EventType.LOW_BATTERY, device=CORD)


def gateway_registry(config: Path) -> dict[str, Any]:
    """``pinganling gateway devices --json``, run as the technician would on the box."""
    out = subprocess.run([sys.executable, "-m", "pinganling.cli", "gateway", "devices",
                          "--json", "-c", str(config)], capture_output=True, text=True,
                         check=True, timeout=60)
    found: dict[str, Any] = json.loads(out.stdout)
    return found


def server_device_list(stack: Stack, gateway: str) -> tuple[int, list[dict[str, str]]]:
    """The server's list of ``gateway``'s devices (as the technician tina reads it) and its
    revision."""
    panel = stack.client("tina").get(f"/api/gateway-devices/{gateway}").json()
    return panel["desired_rev"], [{"device": d["uid"], "model": d["model"], "label": d["label"]}
                                  for d in sorted(panel["devices"], key=lambda d: d["uid"])]


def assert_registry_in_step(stack: Stack, gateway: str, config: Path) -> None:
    """The gateway's registry is the server's list, at the server's revision."""
    rev, devices = server_device_list(stack, gateway)
    assert gateway_registry(config) == {"config_rev": rev, "devices": devices}
