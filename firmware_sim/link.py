"""Transports that carry the dongle's serial bytes to the gateway: pty, TCP, any pyserial URL.

Every link has ``url`` (what the gateway passes to ``serial.serial_for_url``), ``write(data)``
and ``close()``. ``write`` never blocks: what the OS does not take at once waits in a bounded
backlog that the event loop flushes as the reader catches up. When nobody reads and the backlog
is full, ``write`` refuses the whole chunk with :class:`LinkFull` and counts it in
``dropped_bytes`` — bytes are never lost silently, and a frame is never cut in half.
``await drain()`` waits until everything written has been handed to the OS.

A pty keeps what it was sent until a reader opens it (a few KiB in the kernel, then the
backlog); TCP keeps it in the backlog for the first client. pyserial flushes a port's input when
it opens it (pty and ``socket://`` alike), so a gateway that starts late may skip stale frames —
as it would with a real dongle.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import tty
from typing import Final, Protocol

import serial

from firmware_sim.errors import LinkError, LinkFull

MAX_BACKLOG: Final = 64 * 1024
POLL_S: Final = 0.01


class Link(Protocol):
    url: str

    @property
    def pending(self) -> int: ...

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...

    async def aclose(self) -> None: ...


class _BacklogLink:
    """Non-blocking writes with a bounded backlog flushed when the fd becomes writable."""

    url: str

    def __init__(self, max_backlog: int = MAX_BACKLOG) -> None:
        self.max_backlog = max_backlog
        self.written_bytes = 0
        self.dropped_bytes = 0
        self._backlog = bytearray()
        self._watching: asyncio.AbstractEventLoop | None = None
        self._settled = asyncio.Event()  # set when the backlog is empty, or can never empty
        self._settled.set()
        self._closed = False
        self.failure: LinkError | None = None  # why a background flush gave up, if it did

    @property
    def pending(self) -> int:
        """Bytes accepted but not yet taken by the OS."""
        return len(self._backlog)

    def write(self, data: bytes) -> None:
        if self._closed:
            raise LinkError(f"{self.url}: link is closed")
        self._flush()
        if self._backlog and len(self._backlog) + len(data) > self.max_backlog:
            self.dropped_bytes += len(data)
            raise LinkFull(f"{self.url}: nobody is reading; {len(data)} bytes refused "
                           f"({self.dropped_bytes} so far)")
        n = 0 if self._backlog else self._send(data)
        self.written_bytes += n
        if n < len(data):
            self._backlog += data[n:]
            self._settled.clear()
            self._watch()

    async def drain(self) -> None:
        """Wait until the OS has taken everything; raises :class:`LinkError` if it never will."""
        self._flush()
        while self._backlog and self._fileno() is None and not self._closed:
            await asyncio.sleep(POLL_S)  # nothing to watch: poll, as a reader of it would
            self._flush()
        if self._backlog:
            self._watch()
        await self._settled.wait()
        if self.failure is not None:
            raise self.failure

    def close(self) -> None:
        self._unwatch()
        self._closed = True
        self._settled.set()

    async def aclose(self) -> None:
        self.close()

    def _flush(self) -> None:
        if self._backlog and not self._closed:
            n = self._send(bytes(self._backlog))
            self.written_bytes += n
            del self._backlog[:n]
        if not self._backlog:
            self._settled.set()
            self._unwatch()

    def _watch(self) -> None:
        fd = self._fileno()
        if self._watching is None and fd is not None:
            with contextlib.suppress(RuntimeError):  # no running loop: flushed on next write
                self._watching = asyncio.get_running_loop()
                self._watching.add_writer(fd, self._on_writable)

    def _on_writable(self) -> None:
        try:
            self._flush()
        except LinkError as exc:  # the reader side is gone for good: stop watching, keep data
            self._unwatch()
            self.failure = exc
            self._settled.set()

    def _unwatch(self) -> None:
        fd = self._fileno()
        if self._watching is not None and fd is not None:
            self._watching.remove_writer(fd)
        self._watching = None

    def _send(self, data: bytes) -> int:
        raise NotImplementedError

    def _fileno(self) -> int | None:
        raise NotImplementedError


class PtyLink(_BacklogLink):
    """A pseudo-terminal: we hold the master, the gateway opens ``path`` (the slave)."""

    def __init__(self, max_backlog: int = MAX_BACKLOG) -> None:
        super().__init__(max_backlog)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no CR/LF mapping, no XON/XOFF: bytes pass untouched
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self.url = self.path

    def _send(self, data: bytes) -> int:
        try:
            return os.write(self._master, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise LinkError(f"{self.path}: write failed: {exc}") from exc

    def _fileno(self) -> int | None:
        return None if self._closed else self._master

    def close(self) -> None:
        if not self._closed:
            super().close()
            os.close(self._master)
            os.close(self._slave)


class SerialLink(_BacklogLink):
    """Any pyserial port: a USB-serial adapter, ``loop://`` (then share ``.port``), rfc2217."""

    def __init__(self, port: serial.SerialBase, url: str = "",
                 max_backlog: int = MAX_BACKLOG) -> None:
        super().__init__(max_backlog)
        self.port = port
        self.url = url or str(port.port)

    @classmethod
    def open(cls, url: str, *, baudrate: int = 115_200) -> SerialLink:
        """Open ``url``; raises :class:`LinkError` when it cannot be opened.

        Ports with a file descriptor are written non-blocking (backlog + event loop). Others
        (``loop://``) are written without a write timeout (pyserial's loop fails any write under
        one) and only as much as its 4 KiB queue has room for; the rest waits in the backlog.
        """
        try:
            port = serial.serial_for_url(url, baudrate=baudrate, timeout=0, write_timeout=0)
        except (serial.SerialException, ValueError, OSError) as exc:
            raise LinkError(f"cannot open {url}: {exc}") from exc
        link = cls(port, url)
        if link._fileno() is None:
            port.write_timeout = None
        return link

    def _send(self, data: bytes) -> int:
        capacity = getattr(self.port, "buffer_size", None)  # loop:// blocks when its queue is full
        if isinstance(capacity, int) and self._fileno() is None:
            data = data[: max(capacity - self.port.in_waiting, 0)]
            if not data:
                return 0
        try:
            n = self.port.write(data)
        except serial.SerialTimeoutException:
            return 0
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"{self.url}: write failed: {exc}") from exc
        return len(data) if n is None else n

    def _fileno(self) -> int | None:
        if self._closed:
            return None
        try:
            return int(self.port.fileno())
        except (AttributeError, NotImplementedError, io.UnsupportedOperation,
                serial.SerialException):
            return None

    def close(self) -> None:
        if not self._closed:
            super().close()
            self.port.close()


class TcpLink:
    """Listens on ``host:port``; the gateway opens ``socket://host:port``. Bytes written while
    no client is connected wait in the backlog and go to the first client that connects."""

    def __init__(self, server: asyncio.Server, host: str, max_backlog: int) -> None:
        self._server = server
        port = server.sockets[0].getsockname()[1]
        self.url = f"socket://{host}:{port}"
        self.max_backlog = max_backlog
        self.written_bytes = 0
        self.dropped_bytes = 0
        self._clients: list[asyncio.StreamWriter] = []
        self._backlog = bytearray()
        self._tasks: set[asyncio.Task[None]] = set()
        self.connected = asyncio.Event()

    @property
    def pending(self) -> int:
        """Bytes waiting for a client to connect."""
        return len(self._backlog)

    @classmethod
    async def open(cls, host: str = "127.0.0.1", port: int = 0, *,
                   max_backlog: int = MAX_BACKLOG) -> TcpLink:
        """Start listening (port 0: any free port, see ``url``)."""
        holder: list[TcpLink] = []

        async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await holder[0]._serve(reader, writer)

        try:
            server = await asyncio.start_server(on_client, host, port)
        except OSError as exc:
            raise LinkError(f"cannot listen on {host}:{port}: {exc}") from exc
        holder.append(cls(server, host, max_backlog))
        return holder[0]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._backlog:
            writer.write(bytes(self._backlog))
            self.written_bytes += len(self._backlog)
            self._backlog.clear()
        self._clients.append(writer)
        self.connected.set()
        try:
            while await reader.read(4096):  # the gateway never talks; wait for it to hang up
                pass
        except ConnectionError:
            pass
        finally:
            self._clients.remove(writer)
            if not self._clients:
                self.connected.clear()
            writer.close()

    def write(self, data: bytes) -> None:
        clients = [w for w in self._clients if not w.is_closing()]
        if not clients:
            if len(self._backlog) + len(data) > self.max_backlog:
                self.dropped_bytes += len(data)
                raise LinkFull(f"{self.url}: no client; {len(data)} bytes refused "
                               f"({self.dropped_bytes} so far)")
            self._backlog += data
            return
        for w in clients:
            if w.transport.get_write_buffer_size() + len(data) > self.max_backlog:
                self.dropped_bytes += len(data)
                raise LinkFull(f"{self.url}: client is not reading; {len(data)} bytes refused")
            w.write(data)
        self.written_bytes += len(data)

    async def drain(self) -> None:
        for w in list(self._clients):
            with contextlib.suppress(ConnectionError):
                await w.drain()

    def close(self) -> None:
        for w in self._clients:
            w.close()
        self._server.close()

    async def aclose(self) -> None:
        """Close and wait until every client connection has wound down."""
        self.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
