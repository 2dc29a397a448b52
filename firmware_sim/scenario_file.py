"""The scenario file format (TOML): a home's devices, its residents' routine, scripted events.

Times are clock times of the simulated day, ``"HH:MM"`` or ``"HH:MM:SS"``::

    [scenario]   name, description, start, end, speed (sim s per s), seed
    [[resident]] name, routine = [{ at, room, activity }, ...]   room "out" = not at home;
                 activity: sleeping | lying | sitting | standing | walking
    [[device]]   name, model (hardware.catalog id), and
                 RF: id (uint32, 0x.. ok), rssi (dBm), battery_mv, drain (× nominal rate),
                     room (PIR: the room it watches)
                 BLE: address (MAC), resident (optional with one resident), battery_pct,
                     off = ["21:30-06:30", ...] (not worn), answer_with (a panic button the
                     wearer presses answer_after s after the wearable alerts them)
    [[event]]    do = press | long_press | cancel   at, device [, cancel_after (s)]
                      fall                           at, device (wearable) [, get_up_after (s)]
                      quiet                          from [, to], resident [, activity]
                      silence                        from [, to], device (stops transmitting)
                      battery                        at, device (RF), mv
                      tamper | door                  at, device [, open = true|false]
                      motion                         at, device (PIR) [, count]

See ``firmware_sim/scenarios/demo.toml`` for a commented example. Validation is strict (unknown
keys, unknown models, dangling references and impossible times are errors) and every error is
one line naming the file and the offending entry.
"""

from __future__ import annotations

import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from firmware_sim.errors import ScenarioError
from firmware_sim.routine import DAY, Activity, parse_clock
from hardware.catalog import DeviceKind, Transport, ble_uid, get_model
from hardware.errors import CatalogError


def _clock(value: object) -> object:
    return parse_clock(value) if isinstance(value, str) else value


def _range(value: object) -> object:
    if not isinstance(value, str) or value.count("-") != 1:
        return value
    a, b = value.split("-")
    return (parse_clock(a), parse_clock(b))


Clock = Annotated[float, BeforeValidator(_clock), Field(ge=0, le=DAY)]
ClockRange = Annotated[tuple[float, float], BeforeValidator(_range)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Header(_Model):
    name: str
    description: str = ""
    start: Clock = 0.0
    end: Clock = DAY
    speed: float = Field(default=60.0, gt=0)
    seed: int = 0


class RoutineEntry(_Model):
    at: Clock
    room: str
    activity: Activity = Activity.STANDING


class Resident(_Model):
    name: str
    routine: list[RoutineEntry] = Field(min_length=1)


class Device(_Model):
    """One device of the home; RF devices have an ``id``, wearables an ``address``."""

    name: str
    model: str
    id: int | None = Field(default=None, ge=0, le=0xFFFF_FFFF)
    address: str | None = None
    room: str | None = None
    resident: str | None = None
    rssi: float = Field(default=-65.0, ge=-120, le=-20)
    battery_mv: int | None = Field(default=None, ge=0, le=0xFFFF)
    battery_pct: float | None = Field(default=None, ge=0, le=100)
    drain: float = Field(default=1.0, ge=0)
    off: list[ClockRange] = Field(default_factory=list)
    answer_with: str | None = None
    answer_after: float = Field(default=6.0, gt=0, le=3600)

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        get_model(value)  # CatalogError is a ValueError: pydantic reports it
        return value

    @field_validator("address")
    @classmethod
    def _mac(cls, value: str | None) -> str | None:
        if value is not None:
            ble_uid(value)
        return value

    @model_validator(mode="after")
    def _fits_model(self) -> Self:
        model = get_model(self.model)
        if model.transport is Transport.SERIAL_RF and self.id is None:
            raise ValueError(f"{self.model} is an RF device: give its id (e.g. 0x0A1B2C3D)")
        if model.transport is Transport.BLE and self.address is None:
            raise ValueError(f"{self.model} is a BLE wearable: give its address")
        if model.kind is DeviceKind.PIR and self.room is None:
            raise ValueError("a PIR sensor needs the room it watches")
        if self.answer_with is not None and model.kind is not DeviceKind.WEARABLE:
            raise ValueError("answer_with: only a wearable alerts its wearer")
        return self

    @property
    def kind(self) -> DeviceKind:
        return get_model(self.model).kind


class Do(StrEnum):
    PRESS = "press"
    LONG_PRESS = "long_press"
    CANCEL = "cancel"
    FALL = "fall"
    QUIET = "quiet"
    BATTERY = "battery"
    TAMPER = "tamper"
    SILENCE = "silence"
    MOTION = "motion"
    DOOR = "door"


_NEEDS_KIND = {Do.PRESS: {DeviceKind.PANIC_BUTTON, DeviceKind.PULL_CORD},
               Do.LONG_PRESS: {DeviceKind.PANIC_BUTTON, DeviceKind.PULL_CORD},
               Do.CANCEL: {DeviceKind.PANIC_BUTTON, DeviceKind.PULL_CORD},
               Do.FALL: {DeviceKind.WEARABLE}, Do.MOTION: {DeviceKind.PIR},
               Do.DOOR: {DeviceKind.DOOR}}


class Event(_Model):
    """A scripted event: ``do`` at ``at`` (or over ``from``..``to`` for quiet / silence)."""

    do: Do
    at: Clock | None = None
    from_: Clock | None = Field(default=None, alias="from")
    to: Clock | None = None
    device: str | None = None
    resident: str | None = None
    cancel_after: float | None = Field(default=None, gt=0)
    get_up_after: float | None = Field(default=None, gt=0)
    mv: int | None = Field(default=None, ge=0, le=0xFFFF)
    open: bool = True
    count: int = Field(default=1, ge=1, le=255)
    activity: Activity | None = None

    @model_validator(mode="after")
    def _has_time(self) -> Self:
        if self.do in (Do.QUIET, Do.SILENCE):
            if self.from_ is None and self.at is None:
                raise ValueError(f"'{self.do}' needs from (and optionally to)")
            if self.to is not None and self.to <= self.begin:
                raise ValueError("'to' must be after 'from'")
        elif self.at is None:
            raise ValueError(f"'{self.do}' needs at = \"HH:MM[:SS]\"")
        if self.do is Do.BATTERY and self.mv is None:
            raise ValueError("'battery' needs mv")
        if self.do is Do.QUIET and self.resident is None:
            raise ValueError("'quiet' needs the resident")
        if self.do not in (Do.QUIET,) and self.device is None:
            raise ValueError(f"'{self.do}' needs a device")
        return self

    @property
    def begin(self) -> float:
        return self.from_ if self.from_ is not None else self.at or 0.0

    @property
    def finish(self) -> float:
        return self.to if self.to is not None else DAY


class Scenario(_Model):
    """A whole scenario file."""

    scenario: Header
    resident: list[Resident] = Field(default_factory=list)
    device: list[Device] = Field(default_factory=list)
    event: list[Event] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> Self:
        _unique("device name", [d.name for d in self.device])
        _unique("RF device id", [d.id for d in self.device if d.id is not None])
        _unique("BLE address", [ble_uid(d.address) for d in self.device if d.address])
        _unique("resident name", [r.name for r in self.resident])
        residents = {r.name for r in self.resident}
        devices = {d.name: d for d in self.device}
        if self.scenario.end <= self.scenario.start:
            raise ValueError("scenario end must be after its start")
        for d in self.device:
            if d.kind is not DeviceKind.WEARABLE or self.resident_of(d) in residents:
                continue
            if d.resident is None:
                raise ValueError(f"wearable {d.name!r}: say which resident wears it "
                                 f"(residents: {', '.join(sorted(residents)) or 'none'})")
            raise ValueError(f"wearable {d.name!r}: resident {d.resident!r} not defined "
                             f"(residents: {', '.join(sorted(residents)) or 'none'})")
        for d in self.device:
            answer = devices.get(d.answer_with or "")
            if d.answer_with is not None and (answer is None
                                              or answer.kind is not DeviceKind.PANIC_BUTTON):
                raise ValueError(f"wearable {d.name!r}: answer_with {d.answer_with!r} is not a "
                                 "panic button of this home")
        for e in self.event:
            if e.resident is not None and e.resident not in residents:
                raise ValueError(f"event {e.do}: unknown resident {e.resident!r}")
            if e.device is not None and e.device not in devices:
                raise ValueError(f"event {e.do}: unknown device {e.device!r} "
                                 f"(devices: {sorted(devices)})")
            kinds = _NEEDS_KIND.get(e.do)
            if kinds and e.device is not None and devices[e.device].kind not in kinds:
                raise ValueError(f"event {e.do}: {e.device!r} is a {devices[e.device].kind}")
            if e.do in (Do.BATTERY, Do.TAMPER) and e.device is not None \
                    and devices[e.device].kind is DeviceKind.WEARABLE:
                raise ValueError(f"event {e.do}: only RF devices, not {e.device!r}")
        return self

    def resident_of(self, device: Device) -> str | None:
        """The resident a wearable belongs to (the only one when the home has one)."""
        if device.resident is None and len(self.resident) == 1:
            return self.resident[0].name
        return device.resident


def _unique(what: str, values: list[object]) -> None:
    seen = set()
    for v in values:
        if v in seen:
            raise ValueError(f"duplicate {what} {v!r}")
        seen.add(v)


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Parse and validate TOML text; :class:`ScenarioError` names ``source`` and the entry."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML: {exc}") from None
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ScenarioError(f"{source}: {where.lstrip('.') or 'file'}: {message}{more}") from None
    except (CatalogError, ScenarioError) as exc:
        raise ScenarioError(f"{source}: {exc}") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {p}: {exc.strerror or exc}") from None
    return parse_scenario(text, p.name)
