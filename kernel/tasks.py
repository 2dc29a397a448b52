"""Tasks that live and die together, for loops that retry after a failure.

``asyncio.TaskGroup`` does not fit such loops on Python 3.11: when a child fails after the group
began to exit, the caller's task stays counted as cancelling (CPython gh-116720, fixed in 3.12),
and a child's error raised while the caller is being cancelled replaces the caller's own
``CancelledError``, so the loop retries instead of stopping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


async def until_first_ends(*tasks: asyncio.Task[Any],
                           also: Iterable[asyncio.Task[Any]] = ()) -> None:
    """Wait until one of ``tasks`` ends; then cancel and await all of them and ``also`` (read
    at that moment); raise the error of one that failed. A cancel of the caller cancels them all
    and ends the caller with ``CancelledError``."""
    done: set[asyncio.Task[Any]] = set()
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        rest = {*tasks, *also}
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)
    for task in done:
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error
