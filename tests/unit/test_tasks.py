"""until_first_ends: the first task to end ends them all; a cancel always stops the caller."""

from __future__ import annotations

import asyncio

import pytest

from kernel.tasks import until_first_ends


async def forever() -> None:
    await asyncio.sleep(3600)


async def fail_soon() -> None:
    await asyncio.sleep(0.01)
    raise ConnectionError("link lost")


async def test_a_failing_task_ends_the_others_and_its_error_reaches_the_caller() -> None:
    other, extra = asyncio.create_task(forever()), asyncio.create_task(forever())
    for _ in range(3):  # as a reconnect loop would, several times over
        with pytest.raises(ConnectionError, match="link lost"):
            await until_first_ends(asyncio.create_task(fail_soon()), other, also=[extra])
        other, extra = asyncio.create_task(forever()), asyncio.create_task(forever())
    # unlike a Python 3.11 TaskGroup, nothing is left counted against the caller
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
    other.cancel()
    extra.cancel()


async def test_a_cancel_of_the_caller_stops_it_even_when_a_child_fails_on_the_way_out() -> None:
    started = asyncio.Event()
    children: list[asyncio.Task[None]] = []

    async def breaks_when_stopped() -> None:
        try:
            started.set()
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise ConnectionError("link dropped while stopping") from None

    async def session() -> None:
        children.extend([asyncio.create_task(breaks_when_stopped()),
                         asyncio.create_task(forever())])
        await until_first_ends(*children)

    caller = asyncio.create_task(session())
    await started.wait()
    caller.cancel()
    done, _ = await asyncio.wait({caller}, timeout=5)
    assert done == {caller}
    assert caller.cancelled()
    assert all(c.done() for c in children)
