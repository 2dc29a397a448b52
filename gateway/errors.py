"""The gateway's exception tree; foreign exceptions are converted where they enter."""


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class TransportError(GatewayError):
    """A device link (serial port, BLE adapter) failed; the transport reopens it."""
