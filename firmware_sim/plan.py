"""A scenario brought to life: residents' timelines, device objects, and the serial frames of a run.

The RF side is planned up front for the whole run (deterministic for a scenario, a seed and a
run window); wearables are pure functions of time and are asked interval by interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Final

from firmware_sim.button import PanicButton, PullCord
from firmware_sim.motion import DoorSensor, PirSensor
from firmware_sim.posture import Fall
from firmware_sim.rf import FIRMWARE, Battery, RfDevice
from firmware_sim.routine import DAY, Activity, Timeline, format_clock
from firmware_sim.scenario_file import Device, Do, Event, Scenario
from firmware_sim.wearable import Wearable
from hardware.catalog import DeviceKind, battery_mv, get_model, rf_uid
from hardware.errors import FrameError
from hardware.frames import (
    Frame,
    Input,
    MsgType,
    count_data,
    data_fields,
    firmware_data,
    flag_data,
    input_data,
)

LOW_REPEAT_S: Final = 6 * 3600.0  # while low, a LOW_BATTERY again with a heartbeat this often
LABEL: Final = {MsgType.PRESS: "press", MsgType.CANCEL: "cancel",
                MsgType.LONG_PRESS: "long press", MsgType.SUPERVISION: "supervision",
                MsgType.LOW_BATTERY: "low battery", MsgType.TAMPER: "tamper",
                MsgType.MOTION: "motion", MsgType.DOOR: "door"}


@dataclass(frozen=True, slots=True)
class Planned:
    """A serial frame to send at ``t`` (``frame``), or only a note to report (``frame`` None)."""

    t: float
    text: str
    frame: Frame | None = None
    device: str | None = None  # uid
    notable: bool = True


Action = Callable[[float], list[Planned]]


class Home:
    """Every device and resident of a scenario."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.seed = scenario.scenario.seed
        self.timelines = {r.name: self._timeline(r.name) for r in scenario.resident}
        self.rf: dict[str, RfDevice] = {}
        self.wearables: dict[str, Wearable] = {}
        self.names: dict[str, str] = {}  # uid -> scenario name
        self._last_low: dict[str, float] = {}
        for spec in scenario.device:
            if spec.kind is DeviceKind.WEARABLE:
                wearable = self.wearables[spec.name] = self._wearable(spec)
                self.names[wearable.uid] = spec.name
            else:
                rf = self.rf[spec.name] = self._rf(spec)
                self.names[rf.uid] = spec.name

    def _timeline(self, resident: str) -> Timeline:
        spec = next(r for r in self.scenario.resident if r.name == resident)
        timeline = Timeline.from_routine([(e.at, e.room, e.activity) for e in spec.routine])
        for e in self.scenario.event:
            if e.do is Do.QUIET and e.resident == resident:
                timeline = timeline.override(e.begin, e.finish,
                                             activity=e.activity or Activity.SITTING)
            elif e.do is Do.FALL and e.device and e.at is not None and self._owner(e) == resident:
                end = DAY if e.get_up_after is None else min(e.at + e.get_up_after, DAY)
                timeline = timeline.override(e.at, end, activity=Activity.LYING)
        return timeline

    def _owner(self, event: Event) -> str | None:
        spec = next(d for d in self.scenario.device if d.name == event.device)
        return self.scenario.resident_of(spec)

    def _wearable(self, spec: Device) -> Wearable:
        resident = self.scenario.resident_of(spec)
        falls = [Fall(e.at, e.get_up_after) for e in self.scenario.event
                 if e.do is Do.FALL and e.device == spec.name and e.at is not None]
        off: list[tuple[float, float]] = []
        for a, b in spec.off:
            off += [(a, b)] if a < b else [(a, DAY), (0.0, b)]
        assert spec.address is not None  # checked by the scenario validator
        return Wearable(spec.address, spec.model, seed=self.seed, timeline=self.timelines[
            resident] if resident else None, falls=falls, off=off, battery_pct=spec.battery_pct)

    def _rf(self, spec: Device) -> RfDevice:
        model = get_model(spec.model)
        assert spec.id is not None  # checked by the scenario validator
        start_mv = spec.battery_mv or battery_mv(model, 95 - spec.id % 20)
        anchors = [(0.0, start_mv)] + [
            (e.at, e.mv) for e in self.scenario.event
            if e.do is Do.BATTERY and e.device == spec.name and e.at is not None
            and e.mv is not None]
        battery = Battery(model, anchors, spec.drain)
        seed, rssi = self.seed, spec.rssi
        if model.kind is DeviceKind.PIR:
            return PirSensor(spec.id, spec.room or "", seed=seed, rssi_dbm=rssi, battery=battery)
        if model.kind is DeviceKind.DOOR:
            return DoorSensor(spec.id, seed=seed, rssi_dbm=rssi, battery=battery)
        cls = PullCord if model.kind is DeviceKind.PULL_CORD else PanicButton
        return cls(spec.id, model_id=spec.model, seed=seed, rssi_dbm=rssi, battery=battery)

    # ---------------------------------------------------------------------------- the plan

    def rf_plan(self, t0: float, t1: float) -> list[Planned]:
        """Frames and notes of ``[t0, t1)`` in time order, each device's seq rising with time.

        The devices are stateful: a second plan continues their sequence numbers.
        """
        actions: list[tuple[float, int, Action]] = [
            (t, i, partial(_note, text)) for i, (t, text) in enumerate(self._notes())
            if t0 <= t < t1]  # a note goes before a frame of the same instant
        timelines = list(self.timelines.values())
        for name, dev in self.rf.items():
            quiet = self._silences(name)
            timed: list[tuple[float, Action]] = [
                (t, partial(self._supervision, dev)) for t in dev.supervision_times(t0, t1)]
            timed += [(t, partial(self._emit, dev, MsgType.LOW_BATTERY, b""))
                      for t in dev.battery.low_crossings(t0, t1)]
            if isinstance(dev, PirSensor):
                timed += [(t, partial(self._emit, dev, MsgType.MOTION, count_data(c)))
                          for t, c in dev.reports(timelines, t0, t1)]
            if isinstance(dev, DoorSensor):
                timed += [(t, partial(self._emit, dev, MsgType.DOOR, flag_data(o)))
                          for t, o in dev.movements(timelines, t0, t1)]
            timed += self._scripted(name, dev)
            actions += [(t, len(actions) + i, a) for i, (t, a) in enumerate(timed)
                        if t0 <= t < t1 and not any(a0 <= t < a1 for a0, a1 in quiet)]
        actions.sort(key=lambda x: (x[0], x[1]))
        self._last_low.clear()
        return [p for t, _, act in actions for p in act(t)]

    def answer(self, wearable: str, t: float) -> list[Planned]:
        """The wearer of ``wearable`` answers its alert: a press of their ``answer_with`` button
        at ``t`` (nothing when the scenario gives them none)."""
        spec = next(d for d in self.scenario.device if d.name == wearable)
        dev = self.rf.get(spec.answer_with or "")
        if not isinstance(dev, PanicButton):
            return []
        frame = dev.frame(t, MsgType.PRESS, input_data(dev.INPUT))
        text = f"{describe(frame, self.names.get(dev.uid, ''))}: answers {wearable}'s alert"
        return [Planned(t, text, frame, dev.uid)]

    def _scripted(self, name: str, dev: RfDevice) -> list[tuple[float, Action]]:
        out: list[tuple[float, Action]] = []
        for e in self.scenario.event:
            if e.device != name or e.at is None:
                continue
            if e.do in SCRIPTED_FRAME:
                kind = SCRIPTED_FRAME[e.do]
                out.append((e.at, partial(self._emit, dev, kind, _scripted_data(e, dev))))
            if e.do is Do.PRESS and e.cancel_after is not None:
                out.append((e.at + e.cancel_after, partial(self._emit, dev, MsgType.CANCEL, b"")))
        return out

    def _silences(self, name: str) -> list[tuple[float, float]]:
        return [(e.begin, e.finish) for e in self.scenario.event
                if e.do is Do.SILENCE and e.device == name]

    def _notes(self) -> list[tuple[float, str]]:
        out = []
        for e in self.scenario.event:
            who = f"{e.device!r}" if e.device else f"{e.resident}"
            if e.do is Do.FALL and e.at is not None:
                dev = self.wearables[e.device or ""]
                after = (f", gets up after {e.get_up_after:g} s" if e.get_up_after
                         else ", stays down")
                out.append((e.at, f"fall: the wearer of {who} ({dev.uid}) falls{after}"))
            elif e.do is Do.QUIET:
                out.append((e.begin, f"quiet: {who} keeps still until {format_clock(e.finish)}"))
            elif e.do is Do.SILENCE:
                out.append((e.begin, f"silence: {who} stops transmitting until "
                                     f"{format_clock(e.finish)}"))
            elif e.do is Do.BATTERY and e.at is not None:
                out.append((e.at, f"battery: {who} battery drops to {e.mv} mV"))
        return out

    def _emit(self, dev: RfDevice, kind: MsgType, data: bytes, t: float) -> list[Planned]:
        frame = dev.frame(t, kind, data)
        if kind is MsgType.LOW_BATTERY:
            self._last_low[dev.uid] = t
        return [Planned(t, describe(frame, self.names.get(dev.uid, "")), frame, dev.uid,
                        kind is not MsgType.SUPERVISION)]

    def _supervision(self, dev: RfDevice, t: float) -> list[Planned]:
        out = self._emit(dev, MsgType.SUPERVISION, firmware_data(*FIRMWARE), t)
        last = self._last_low.get(dev.uid)
        if dev.battery.is_low(t) and (last is None or t - last >= LOW_REPEAT_S):
            out += self._emit(dev, MsgType.LOW_BATTERY, b"", t + 0.05)
        return out


SCRIPTED_FRAME: Final = {Do.PRESS: MsgType.PRESS, Do.LONG_PRESS: MsgType.LONG_PRESS,
                         Do.CANCEL: MsgType.CANCEL, Do.TAMPER: MsgType.TAMPER,
                         Do.MOTION: MsgType.MOTION, Do.DOOR: MsgType.DOOR}


def _scripted_data(e: Event, dev: RfDevice) -> bytes:
    if e.do in (Do.PRESS, Do.LONG_PRESS):
        return input_data(dev.INPUT if isinstance(dev, PanicButton) else Input.MAIN)
    if e.do is Do.MOTION:
        return count_data(e.count)
    if e.do in (Do.TAMPER, Do.DOOR):
        return flag_data(e.open)
    return b""


def _note(text: str, t: float) -> list[Planned]:
    return [Planned(t, text)]


def describe(frame: Frame, name: str = "") -> str:
    """One line for a frame, e.g. ``press from rf-0a1b2c3d (bedside button)``."""
    label = LABEL[frame.type]
    detail = ""
    try:
        fields = data_fields(frame)
    except FrameError:
        fields = {}
    if frame.type is MsgType.DOOR:
        label = "door open" if fields.get("open") else "door closed"
    elif frame.type is MsgType.TAMPER:
        label = "tamper (case opened)" if fields.get("open") else "tamper (case closed)"
    elif frame.type is MsgType.MOTION:
        detail = f" ×{fields.get('count', 1)}"
    elif frame.type is MsgType.LOW_BATTERY:
        detail = f" ({frame.battery_mv} mV)"
    who = rf_uid(frame.device_id) + (f" ({name})" if name else "")
    return f"{label}{detail} from {who}"
