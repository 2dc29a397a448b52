"""Simulated panic buttons and pull cords: press, long press, cancel (heartbeats: RfDevice)."""

from __future__ import annotations

from firmware_sim.rf import Battery, RfDevice
from hardware.catalog import get_model
from hardware.frames import Frame, Input, MsgType, input_data


class PanicButton(RfDevice):
    """A PB-433 pendant / bedside button; its presses report input 0 (main button)."""

    MODEL = "PB-433"
    INPUT = Input.MAIN

    def __init__(self, device_id: int, *, model_id: str | None = None, seed: int = 0,
                 rssi_dbm: float = -65.0, battery: Battery | None = None) -> None:
        super().__init__(device_id, get_model(model_id or self.MODEL), seed=seed,
                         rssi_dbm=rssi_dbm, battery=battery)

    def press(self, t: float) -> Frame:
        return self.frame(t, MsgType.PRESS, input_data(self.INPUT))

    def long_press(self, t: float) -> Frame:
        return self.frame(t, MsgType.LONG_PRESS, input_data(self.INPUT))

    def cancel(self, t: float) -> Frame:
        return self.frame(t, MsgType.CANCEL)


class PullCord(PanicButton):
    """A PC-433 bathroom pull cord: a pull is a PRESS on input 1."""

    MODEL = "PC-433"
    INPUT = Input.PULL_CORD
