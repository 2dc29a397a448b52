"""Run a scenario: serial frames to a link, BLE notifications to an async sink, on a sim clock.

The simulated clock runs ``speed`` times faster than the event loop's clock (speed 60: one
simulated minute per second; ``math.inf``: as fast as possible) from ``start`` to ``until``
(clock times of the simulated day, in seconds). :meth:`ScenarioRunner.skip_to` jumps ahead;
what would have been sent in between is dropped, as if the devices had been out of range.

The residents react to one thing: a gateway writing a wearable's Alert Level
(:meth:`ScenarioRunner.on_ble_write`). The wearable alerts (reported), and a wearer whose device
says ``answer_with`` presses that button ``answer_after`` seconds later.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from firmware_sim.errors import LinkError, ScenarioError
from firmware_sim.link import Link
from firmware_sim.plan import Home, Planned
from firmware_sim.routine import format_clock
from firmware_sim.scenario_file import Scenario, load_scenario, parse_scenario
from hardware import ble
from hardware.ble import AlertLevel
from hardware.errors import BlePayloadError
from hardware.frames import encode_frame

__all__ = ["SCENARIO_DIR", "BleSink", "Report", "RunSummary", "Scenario", "ScenarioRunner",
           "builtin_scenarios", "find_scenario", "load_scenario", "parse_scenario"]

SCENARIO_DIR: Final = Path(__file__).parent / "scenarios"
BleSink = Callable[[str, str, bytes], Awaitable[None]]
Item = Planned | tuple[str, str, bytes]  # a frame / note, or (address, uuid, payload)
MIN_STEP_S: Final = 0.5  # simulated seconds planned per step at low speed
STEP_WALL_S: Final = 0.05  # ... and at high speed, the wall time a step may cover


@dataclass(frozen=True, slots=True)
class Report:
    """Something the runner did, e.g. ``10:02:00 sent press from rf-0a1b2c3d (bedside)``."""

    t: float
    text: str
    device: str | None = None
    notable: bool = True

    def __str__(self) -> str:
        return f"{format_clock(self.t)} {self.text}"


@dataclass(slots=True)
class RunSummary:
    """Counts of a run: frames by type name, notifications by characteristic uuid."""

    frames: Counter[str] = field(default_factory=Counter)
    notifications: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    ended_at: float = 0.0


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped in ``firmware_sim/scenarios``."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def find_scenario(name_or_path: str) -> Scenario:
    """Load a shipped scenario by name (``demo``) or any scenario file by path."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = SCENARIO_DIR / f"{name_or_path}.toml"
        if not path.exists():
            raise ScenarioError(f"no scenario {name_or_path!r} (shipped: "
                                f"{', '.join(builtin_scenarios())}; or give a .toml path)")
    return load_scenario(path)


class ScenarioRunner:
    """Plays a scenario onto a serial link and a BLE sink; reports each notable thing sent."""

    def __init__(self, scenario: Scenario, *, link: Link | None = None,
                 ble_sink: BleSink | None = None, speed: float | None = None,
                 start: float | None = None, until: float | None = None,
                 on_report: Callable[[Report], None] | None = None) -> None:
        head = scenario.scenario
        self.home = Home(scenario)
        self.link = link
        self.ble_sink = ble_sink
        self.speed = head.speed if speed is None else speed
        self.start = head.start if start is None else start
        self.until = head.end if until is None else until
        if self.speed <= 0 or self.until <= self.start:
            raise ScenarioError(f"bad run: speed {self.speed}, "
                                f"{format_clock(self.start)} .. {format_clock(self.until)}")
        self.on_report = on_report
        self.summary = RunSummary()
        self.now = self.start
        self._skip: float | None = None
        self._plan: list[Planned] = []
        self._pos = 0
        self._anchor = (self.start, 0.0)  # (sim time, loop time) the pacing counts from
        self._waiters: list[tuple[float, asyncio.Event]] = []
        self._delivered = self.start  # time of the last thing sent

    def on_ble_write(self, address: str, uuid: str, data: bytes) -> None:
        """A gateway wrote to the wearable at ``address`` (the in-memory air's handler): it
        alerts its wearer at the level written, who answers with their button if the scenario
        says so."""
        name = next((n for n, w in self.home.wearables.items()
                     if w.address.upper() == address.upper()), None)
        if name is None:
            return
        wearable = self.home.wearables[name]
        now = max(self.now, self._delivered)
        if uuid != ble.ALERT_LEVEL:
            self._report(Report(now, f"{name} ignores a write to {uuid[:8]}", wearable.uid))
            return
        try:
            level = wearable.immediate_alert(now, data)
        except BlePayloadError as exc:
            self._report(Report(now, f"{name} ignores an alert level: {exc}", wearable.uid))
            return
        what = "stops alerting" if level is AlertLevel.NONE else \
            f"alerts its wearer ({level.name.lower()} alert: beeps and vibrates)"
        self._report(Report(now, f"{name} ({wearable.uid}) {what}", wearable.uid))
        if level is not AlertLevel.NONE:
            spec = next(d for d in self.home.scenario.device if d.name == name)
            for planned in self.home.answer(name, now + spec.answer_after):
                bisect.insort(self._plan, planned, lo=self._pos, key=lambda p: p.t)

    async def reached(self, t: float) -> None:
        """Return once the simulated clock has reached ``t``."""
        if self.now >= t:
            return
        event = asyncio.Event()
        self._waiters.append((t, event))
        await event.wait()

    def _advanced(self) -> None:
        for t, event in self._waiters:
            if self.now >= t:
                event.set()
        self._waiters = [(t, e) for t, e in self._waiters if not e.is_set()]

    def skip_to(self, t: float) -> None:
        """Jump the simulated clock ahead to ``t`` at the next step."""
        if t > self.now:
            self._skip = t

    async def run(self) -> RunSummary:
        """Play from ``start`` to ``until``; returns the summary (also on ``self.summary``)."""
        loop = asyncio.get_running_loop()
        self._plan = self.home.rf_plan(self.start, self.until)
        self._pos = 0
        self._anchor = (self.start, loop.time())
        step = max(MIN_STEP_S, self.speed * STEP_WALL_S) if math.isfinite(self.speed) else 60.0
        while self.now < self.until:
            if self._skip is not None:
                self._jump(loop, self._skip)
            t1 = min(self.now + step, self.until)
            if await self._play(loop, self._batch(t1)) \
                    and await self._play(loop, self._planned(t1)):  # reactions due in this step
                await self._wait(loop, t1)
                self.now = t1
                self._advanced()
        self.summary.ended_at = self.now
        return self.summary

    def _jump(self, loop: asyncio.AbstractEventLoop, to: float) -> None:
        self._report(Report(self.now, f"skip to {format_clock(to)}"))
        self.now, self._skip = min(to, self.until), None
        self._advanced()
        self._anchor = (self.now, loop.time())
        while self._pos < len(self._plan) and self._plan[self._pos].t < self.now:
            self._pos += 1

    def _planned(self, t1: float) -> list[tuple[float, int, Item]]:
        """The planned frames and notes before ``t1`` not yet taken, in time order."""
        plan = self._plan
        batch: list[tuple[float, int, Item]] = []
        while self._pos < len(plan) and plan[self._pos].t < t1:
            batch.append((plan[self._pos].t, self._pos, plan[self._pos]))
            self._pos += 1
        return batch

    def _batch(self, t1: float) -> list[tuple[float, int, Item]]:
        """What to send in ``[now, t1)``, in time order (frames before notifications)."""
        plan = self._plan
        batch = self._planned(t1)
        if self.ble_sink is not None:
            for w in self.home.wearables.values():
                batch += [(t, len(plan), (w.address, uuid, payload))
                          for t, uuid, payload in w.notifications(self.now, t1)]
        batch.sort(key=lambda item: (item[0], item[1]))
        return batch

    async def _play(self, loop: asyncio.AbstractEventLoop,
                    batch: list[tuple[float, int, Item]]) -> bool:
        """Deliver ``batch`` on time; False when a skip interrupted it."""
        for k, (t, _, item) in enumerate(batch):
            await self._wait(loop, t)
            if self._skip is not None:  # undelivered frames go back to the plan
                self._pos = min([i for _, i, x in batch[k:] if isinstance(x, Planned)]
                                + [self._pos])
                return False
            self._delivered = t
            await self._deliver(t, item)
        return True

    async def _wait(self, loop: asyncio.AbstractEventLoop, t: float) -> None:
        sim0, wall0 = self._anchor
        delay = wall0 + (t - sim0) / self.speed - loop.time()
        await asyncio.sleep(max(delay, 0.0))  # sleep(0) still lets the gateway run

    async def _deliver(self, t: float, item: Item) -> None:
        if isinstance(item, tuple):
            assert self.ble_sink is not None
            address, uuid, payload = item
            await self.ble_sink(address, uuid, payload)
            self.summary.notifications[uuid] += 1
            return
        if item.frame is None:
            self._report(Report(t, item.text, item.device, item.notable))
            return
        if self.link is None:
            self._report(Report(t, f"(no link) {item.text}", item.device, item.notable))
            return
        try:
            self.link.write(encode_frame(item.frame))
        except LinkError as exc:
            self.summary.refused += 1
            self._report(Report(t, f"NOT sent {item.text}: {exc}", item.device))
            return
        self.summary.frames[item.frame.type.name] += 1
        self._report(Report(t, f"sent {item.text}", item.device, item.notable))

    def _report(self, report: Report) -> None:
        if self.on_report is not None:
            self.on_report(report)
