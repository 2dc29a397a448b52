"""Jittered exponential backoff for reconnects and reopens, and not retrying once cancelled."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass


@dataclass(slots=True)
class Backoff:
    """``next()``: initial, 2×, 4× … up to ``maximum`` seconds, each ±``jitter``; ``reset()``."""

    initial: float = 0.5
    maximum: float = 30.0
    jitter: float = 0.25
    attempt: int = 0

    def next(self) -> float:
        base = min(self.maximum, self.initial * 2 ** min(self.attempt, 30))
        self.attempt += 1
        return float(base * random.uniform(1 - self.jitter, 1 + self.jitter))

    def reset(self) -> None:
        self.attempt = 0

    async def sleep(self) -> None:
        """Wait ``next()`` seconds before a retry, unless this task has been asked to stop."""
        stop_if_cancelled()
        await asyncio.sleep(self.next())


def stop_if_cancelled() -> None:
    """Raise ``CancelledError`` if this task has been asked to stop.

    A retry loop that handles its task's errors can otherwise swallow a cancel that arrived while
    it failed: ``asyncio.TaskGroup`` raises its children's errors instead of the
    ``CancelledError``, and a client's ``__aexit__`` may raise its own error while cancelled.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
