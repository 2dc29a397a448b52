"""What the detectors emit: plain frozen records with times in the caller's clock (seconds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from kernel.placement import Placement

DeviceKey = int | str


@dataclass(frozen=True, slots=True)
class FallEvent:
    """A fall decided by the detector.

    ``t_impact`` is the estimated impact (peak acceleration), ``t_decision`` the time of the last
    sample the decision needed (on a live stream: the earliest moment it can be raised).
    ``got_up`` is ``None`` here; the outcome follows as a :class:`FallResolved` with the same
    ``device`` and ``t_impact`` (see :attr:`key`).
    """

    device: DeviceKey
    t_impact: float
    t_decision: float
    placement: Placement
    confidence: float
    features: dict[str, float] = field(default_factory=dict)
    got_up: bool | None = None

    @property
    def key(self) -> tuple[DeviceKey, float]:
        return (self.device, self.t_impact)


@dataclass(frozen=True, slots=True)
class FallResolved:
    """How a fall ended: ``got_up`` True when activity resumed upright within the cancel window.

    A fall that got up lowers the alert's priority; it is still a recorded fall.
    """

    device: DeviceKey
    t_impact: float
    t_resolved: float
    got_up: bool
    active_s: float

    @property
    def key(self) -> tuple[DeviceKey, float]:
        return (self.device, self.t_impact)


class FaultKind(StrEnum):
    """Technical trouble with a wearable's accelerometer stream."""

    NAN = "nan"
    ALL_ZERO = "all_zero"
    FLATLINE = "flatline"
    CLIPPING = "clipping"
    RATE_CHANGE = "rate_change"
    GAP = "gap"


@dataclass(frozen=True, slots=True)
class SensorFault:
    """A fault starting (``active``) or ending (not ``active``) on one device at time ``t``."""

    device: DeviceKey
    t: float
    kind: FaultKind
    active: bool = True
    detail: str = ""


DetectorEvent = FallEvent | FallResolved | SensorFault
