"""Links carry bytes unchanged to a real pyserial reader: pty, TCP (socket://), loop://."""

from __future__ import annotations

import asyncio
import os
import select
from collections.abc import Iterator

import pytest
import serial

from firmware_sim.errors import LinkError, LinkFull
from firmware_sim.link import PtyLink, SerialLink, TcpLink

ALL_BYTES = bytes(range(256)) * 4  # every byte value, including XON/XOFF, CR, LF, ^C, ^D


def read_exactly(port: serial.SerialBase, n: int, timeout_s: float = 5.0) -> bytes:
    """Read ``n`` bytes; each read waits for data up to the port timeout."""
    out = bytearray()
    port.timeout = timeout_s
    while len(out) < n:
        chunk = port.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def read_fd(fd: int, n: int, timeout_s: float = 5.0) -> bytes:
    """Read up to ``n`` bytes from a raw fd, waiting at most ``timeout_s`` for data."""
    ready, _, _ = select.select([fd], [], [], timeout_s)
    return os.read(fd, n) if ready else b""


@pytest.fixture
def pty_link() -> Iterator[PtyLink]:
    link = PtyLink()
    yield link
    link.close()


async def test_pty_bytes_read_back_identically(pty_link: PtyLink) -> None:
    assert pty_link.url == pty_link.path
    assert pty_link.path.startswith("/dev/")
    port = serial.serial_for_url(pty_link.path, baudrate=115200, timeout=5)
    try:
        pty_link.write(ALL_BYTES)
        await pty_link.drain()
        got = await asyncio.to_thread(read_exactly, port, len(ALL_BYTES))
    finally:
        port.close()
    assert got == ALL_BYTES


async def test_pty_without_reader_refuses_whole_chunks_and_counts_them() -> None:
    link = PtyLink(max_backlog=2048)
    try:
        accepted = bytearray()
        chunk = bytes(range(64))
        while len(accepted) < 10_000_000 and link.pending + len(chunk) <= link.max_backlog:
            link.write(chunk)  # the kernel buffer fills, then the backlog
            accepted += chunk
        with pytest.raises(LinkFull, match="nobody is reading"):
            link.write(chunk)
        assert link.dropped_bytes == len(chunk)
        assert link.pending > 0
        assert link.written_bytes + link.pending == len(accepted)
        port = serial.serial_for_url(link.path, timeout=5)  # opening flushes the stale input
        try:
            pending = link.pending
            await asyncio.wait_for(link.drain(), 5)
            got = await asyncio.to_thread(read_exactly, port, pending)
        finally:
            port.close()
        assert got == bytes(accepted[-pending:])  # the backlog arrives intact and in order
    finally:
        link.close()


async def test_write_after_close_fails(pty_link: PtyLink) -> None:
    pty_link.close()
    with pytest.raises(LinkError, match="closed"):
        pty_link.write(b"x")


async def test_tcp_bytes_read_back_identically() -> None:
    link = await TcpLink.open("127.0.0.1", 0)
    try:
        assert link.url.startswith("socket://127.0.0.1:")
        port = await asyncio.to_thread(serial.serial_for_url, link.url, timeout=5)
        try:
            await asyncio.wait_for(link.connected.wait(), 5)
            link.write(ALL_BYTES)
            await link.drain()
            got = await asyncio.to_thread(read_exactly, port, len(ALL_BYTES))
        finally:
            port.close()
        assert got == ALL_BYTES
    finally:
        await link.aclose()


async def test_tcp_keeps_bytes_for_the_first_client() -> None:
    link = await TcpLink.open("127.0.0.1", 0)
    try:
        link.write(b"before anyone connects")
        assert link.pending == 22
        host, port = link.url.removeprefix("socket://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        got = await asyncio.wait_for(reader.readexactly(22), 5)
        assert got == b"before anyone connects"
        assert link.pending == 0
        writer.close()
        await writer.wait_closed()
    finally:
        await link.aclose()


async def test_tcp_without_client_refuses_beyond_the_backlog() -> None:
    link = await TcpLink.open("127.0.0.1", 0, max_backlog=100)
    try:
        link.write(bytes(80))
        with pytest.raises(LinkFull, match="no client"):
            link.write(bytes(30))
        assert (link.pending, link.dropped_bytes) == (80, 30)
    finally:
        await link.aclose()


async def test_serial_link_over_loop() -> None:
    link = SerialLink.open("loop://")
    try:
        link.write(ALL_BYTES)
        await link.drain()
        assert read_exactly(link.port, len(ALL_BYTES)) == ALL_BYTES
        assert link.url == "loop://"
    finally:
        link.close()


def test_serial_link_open_failure_is_a_link_error() -> None:
    with pytest.raises(LinkError, match="cannot open"):
        SerialLink.open("/dev/does-not-exist-pinganling")


async def test_serial_link_to_a_pty_slave_reaches_the_master() -> None:
    master, slave = os.openpty()
    try:
        link = SerialLink.open(os.ttyname(slave))
        link.write(b"\xa5\x5a hello")
        await link.drain()
        link.close()
        got = await asyncio.to_thread(read_fd, master, 100)
    finally:
        os.close(master)
        os.close(slave)
    assert got == b"\xa5\x5a hello"
