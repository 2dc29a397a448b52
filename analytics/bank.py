"""A bank of fall detectors over a changing set of wearables, keyed by device uid.

The server's detector worker (or a gateway in edge mode) registers wearables with ``add`` and
feeds each tick's blocks to ``process``; devices are grouped by (placement, sample rate) into one
batched :class:`~analytics.fall.FallDetector` each, rows are reused when devices leave, and a
device whose blocks arrive at a new rate moves to the matching group (with a ``rate_change``
fault). Bad blocks are counted and skipped, never raised.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from analytics.errors import InputError
from analytics.events import DetectorEvent, FaultKind, SensorFault
from analytics.fall import FallDetector, checked_placement
from analytics.params import FallParams, FaultParams, load_params
from kernel.contract import AccBlock
from kernel.placement import Placement

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class DeviceBlock:
    """One device's samples: ``samples`` (n, 3) in g, ``t0`` time of the first, at ``fs`` Hz."""

    device: str
    t0: float
    fs: float
    samples: npt.ArrayLike

    @classmethod
    def of(cls, block: AccBlock) -> DeviceBlock:
        """From the gateway⇄server contract's accelerometer block."""
        g = np.asarray(block.samples, dtype=np.float64) * float(block.scale_g)
        return cls(block.device, block.t0_us / 1e6, float(block.rate_hz), g)


@dataclass(slots=True)
class _Group:
    detector: FallDetector
    rows: dict[str, int] = field(default_factory=dict)
    free: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Device:
    placement: Placement
    fs: float


class FallBank:
    """Fall detection for every streaming wearable, batched per (placement, rate)."""

    def __init__(
        self,
        params: Mapping[Placement, FallParams] | None = None,
        faults: FaultParams | None = None,
        initial_rows: int = 64,
    ) -> None:
        self._params = dict(params or {})
        self._faults = faults
        self._initial = max(initial_rows, 1)
        self._groups: dict[tuple[Placement, float], _Group] = {}
        self._devices: dict[str, _Device] = {}
        self.counters: Counter[str] = Counter()

    def __contains__(self, device: str) -> bool:
        return device in self._devices

    def __len__(self) -> int:
        return len(self._devices)

    def params(self, placement: Placement) -> FallParams:
        if placement not in self._params:
            self._params[placement] = load_params(placement)
        return self._params[placement]

    def add(self, device: str, placement: Placement, fs: float) -> None:
        """Register (or re-register) ``device``; it starts as a fresh stream."""
        placement = checked_placement(placement)
        if not (np.isfinite(fs) and fs > 0):
            raise InputError(f"sample rate must be positive, got {fs}")
        self.remove(device)
        group = self._group(placement, float(fs))
        row = group.free.pop() if group.free else self._grow(group)
        group.detector.reset([row])
        group.detector.keys[row] = device
        group.rows[device] = row
        self._devices[device] = _Device(placement, float(fs))

    def remove(self, device: str) -> None:
        dev = self._devices.pop(device, None)
        if dev is None:
            return
        group = self._groups[(dev.placement, dev.fs)]
        row = group.rows.pop(device)
        group.detector.reset([row])
        group.detector.keys[row] = row
        group.free.append(row)

    def _group(self, placement: Placement, fs: float) -> _Group:
        key = (placement, fs)
        if key not in self._groups:
            det = FallDetector(placement, fs, 0, self.params(placement), self._faults)
            self._groups[key] = _Group(det)
        return self._groups[key]

    def _grow(self, group: _Group) -> int:
        det = group.detector
        n = det.n_devices
        det.resize(max(2 * n, self._initial))
        group.free += list(range(det.n_devices - 1, n, -1))
        return n

    def process(self, blocks: Iterable[DeviceBlock]) -> list[DetectorEvent]:
        """Run one tick: every block of every device, batched per group and block length."""
        events: list[DetectorEvent] = []
        batches: dict[tuple[tuple[Placement, float], int, int], list[tuple[int, DeviceBlock]]] = {}
        seen: Counter[str] = Counter()
        for b in blocks:
            checked = self._admit(b, events)
            if checked is None:
                continue
            key, row, n = checked
            batches.setdefault((key, n, seen[b.device]), []).append((row, b))
            seen[b.device] += 1
        for (key, _, _), items in sorted(batches.items(), key=lambda kv: kv[0][2]):
            events += self._run(self._groups[key].detector, items)
        return events

    def _admit(
        self, b: DeviceBlock, events: list[DetectorEvent]
    ) -> tuple[tuple[Placement, float], int, int] | None:
        dev = self._devices.get(b.device)
        if dev is None:
            self.counters["unknown_device"] += 1
            return None
        x = np.asarray(b.samples)
        numeric = np.issubdtype(x.dtype, np.number)
        if not numeric or x.ndim != 2 or x.shape[1] != 3 or x.shape[0] == 0:
            self.counters["bad_block"] += 1
            return None
        if not (np.isfinite(b.t0) and np.isfinite(b.fs) and b.fs > 0):
            self.counters["bad_block"] += 1
            return None
        if float(b.fs) != dev.fs:
            self.counters["rate_change"] += 1
            events.append(SensorFault(b.device, float(b.t0), FaultKind.RATE_CHANGE, True,
                                      f"{dev.fs:g} Hz -> {b.fs:g} Hz"))
            self.add(b.device, dev.placement, float(b.fs))
            dev = self._devices[b.device]
        key = (dev.placement, dev.fs)
        return key, self._groups[key].rows[b.device], x.shape[0]

    def _run(self, det: FallDetector, items: list[tuple[int, DeviceBlock]]) -> list[DetectorEvent]:
        items.sort(key=lambda it: it[0])
        rows = np.array([r for r, _ in items], dtype=np.int64)
        block = np.stack([np.asarray(b.samples, dtype=np.float64) for _, b in items])
        t0 = np.array([b.t0 for _, b in items], dtype=np.float64)
        self.counters["blocks"] += len(items)
        return det.process(block, t0, rows)

    def process_acc(self, blocks: Iterable[AccBlock]) -> list[DetectorEvent]:
        """``process`` for decoded contract blocks."""
        return self.process(DeviceBlock.of(b) for b in blocks)

    def stats(self) -> dict[str, object]:
        return {
            "devices": len(self._devices),
            "groups": {f"{p}@{fs:g}": g.detector.stats() for (p, fs), g in self._groups.items()},
            **dict(self.counters),
        }
