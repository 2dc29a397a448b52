"""The RF receiver dongle on a serial link, read on the event loop (no thread per device).

Any pyserial URL works: a device path (``/dev/ttyUSB0``, a pty), ``socket://host:port`` or
``loop://``. Links with a file descriptor are watched with ``loop.add_reader``; the rest are polled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import serial

from hardware.frames import Deframer, Frame
from kernel.backoff import Backoff

log = logging.getLogger(__name__)
POLL_S = 0.02


class SerialTransport:
    """Opens ``url``, deframes every byte, hands frames to ``on_frame``; reopens on error."""

    def __init__(self, url: str, on_frame: Callable[[Frame], None], *, baudrate: int = 115200,
                 reopen: Backoff | None = None) -> None:
        self.url = url
        self.on_frame = on_frame
        self.baudrate = baudrate
        self.deframer = Deframer()
        self.reopen = reopen or Backoff(initial=0.2, maximum=10.0)
        self.errors = 0
        self.frame_errors = 0
        self.connected = asyncio.Event()
        self.port: serial.SerialBase | None = None

    async def run(self) -> None:
        """Read until cancelled, reopening the link after every failure."""
        while True:
            try:
                self.port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=0)
                self.connected.set()
                self.reopen.reset()
                log.info("serial link %s open", self.url)
                await self._pump(self.port)
            except (serial.SerialException, OSError, ValueError) as exc:
                self.errors += 1
                log.warning("serial link %s failed: %s", self.url, exc)
            finally:
                self.connected.clear()
                if self.port is not None:
                    self.port.close()
                    self.port = None
            await self.reopen.sleep()

    async def _pump(self, port: serial.SerialBase) -> None:
        try:
            fd: int | None = port.fileno()
        except (AttributeError, NotImplementedError, serial.SerialException):
            fd = None
        if fd is None:
            while True:
                self._feed(port.read(port.in_waiting or 1))
                await asyncio.sleep(POLL_S)
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        loop.add_reader(fd, readable.set)
        try:
            while True:
                await readable.wait()
                readable.clear()
                self._feed(port.read(max(port.in_waiting, 1)))
        finally:
            loop.remove_reader(fd)

    def _feed(self, data: bytes) -> None:
        if data:
            for frame in self.deframer.feed(data):
                try:
                    self.on_frame(frame)
                except Exception:  # the frame's outer edge: log, count, keep reading the link
                    self.frame_errors += 1
                    log.exception("serial link %s: could not handle %s from device %08x",
                                  self.url, frame.type.name, frame.device_id)
