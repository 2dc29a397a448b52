"""Retry loops stop when their task is cancelled, even when the cancel arrives as an error."""

from __future__ import annotations

import asyncio
import contextlib

from kernel.backoff import Backoff


async def test_a_retry_loop_stops_when_its_cancel_comes_back_as_an_error() -> None:
    started = asyncio.Event()
    sessions = 0

    async def session() -> None:
        nonlocal sessions
        sessions += 1
        try:
            started.set()
            await asyncio.sleep(3600)
        except asyncio.CancelledError:  # as a client whose link breaks while it stops
            raise ConnectionError("link dropped while stopping") from None

    async def retry_loop() -> None:
        backoff = Backoff(initial=0.01, maximum=0.01)
        while True:
            with contextlib.suppress(ConnectionError):  # raised in place of the CancelledError
                await session()
            await backoff.sleep()

    task = asyncio.create_task(retry_loop())
    await started.wait()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    assert done == {task}, "the loop swallowed the cancel and reconnected"
    assert task.cancelled()
    assert sessions == 1


def test_delays_grow_to_the_maximum_within_the_jitter() -> None:
    b = Backoff(initial=1.0, maximum=8.0, jitter=0.25)
    delays = [b.next() for _ in range(6)]
    for d, base in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert 0.75 * base <= d <= 1.25 * base
    b.reset()
    assert b.next() <= 1.25
