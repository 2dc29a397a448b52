"""The hardware package's exception tree: every error it raises on purpose derives from these."""

from __future__ import annotations


class HardwareError(Exception):
    """Base of every error raised by the hardware codecs and the device catalogue."""


class FrameError(HardwareError, ValueError):
    """A serial frame field is out of range (encoding) or its data does not fit its type."""


class BlePayloadError(HardwareError, ValueError):
    """A BLE characteristic payload is truncated, inconsistent or out of range."""


class CatalogError(HardwareError, ValueError):
    """An unknown device model, or a device uid / BLE address that does not parse."""
