"""Which devices are alarm buttons (pendants, bedside buttons, pull cords): the ones with
self-tests and installation tests, by model (``hardware.catalog``)."""

from __future__ import annotations

from typing import Final

from hardware.catalog import MODELS, DeviceKind
from kernel.contract import EventType

ALARM_KINDS: Final = frozenset({DeviceKind.PANIC_BUTTON, DeviceKind.PULL_CORD})
ALARM_MODELS: Final = sorted(m.id for m in MODELS.values() if m.kind in ALARM_KINDS)
PRESSES: Final = (EventType.PRESS.value, EventType.LONG_PRESS.value, EventType.TEST.value)
"""Events that show a device's button works (a self-test, an installation test's pass)."""
