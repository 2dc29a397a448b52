"""One supervisor for a process's long-running tasks: restart after any failure, report health.

A supervised task is a named coroutine. When it raises anything but a cancel (or returns, which a
long-running task should never do) the supervisor logs the error with the task's name and restart
count, waits a jittered exponential backoff (``kernel.backoff``) and starts it again. A task
says it is well in one of two ways:

- a periodic job calls ``ok()`` after each round (``Supervisor.every`` does it for you);
- a listener (subscribed, LISTENing, connected) passes a ``Flag`` as ``ready``: it counts as
  succeeding for as long as the flag is set.

A task that has not succeeded within its ``deadline_s`` (since its last success, or since it was
first started) is *unhealthy*, and so is one that is not running (backing off, or ended).

Cancelling stops a task for good, also while it fails or backs off: Python 3.11 lets a child's
error replace a ``CancelledError`` (see ``kernel.tasks``), so after every failure the loop
checks ``Task.cancelling()`` before it retries (``kernel.backoff.stop_if_cancelled``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kernel.backoff import Backoff, stop_if_cancelled

log = logging.getLogger(__name__)

MIN_DEADLINE_S = 10.0
STABLE_S = 60.0  # a run this long, or one that reported a success, starts the backoff over
Clock = Callable[[], float]


class Flag(asyncio.Event):
    """An ``asyncio.Event`` that remembers when it last changed (``time.monotonic``).

    For a listener's readiness (``subscribed``, ``listening``, ``connected``): the supervisor
    reads whether it is set, and since when it has not been.
    """

    def __init__(self, clock: Clock = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self.changed_at: float | None = None  # None: never set or cleared

    def set(self) -> None:
        if not self.is_set():
            self.changed_at = self._clock()
        super().set()

    def clear(self) -> None:
        if self.is_set():
            self.changed_at = self._clock()
        super().clear()


Run = Callable[["Supervised"], Awaitable[None]]


def plain(run: Callable[[], Awaitable[None]]) -> Run:
    """A coroutine function that does not report successes, as a supervised task's ``run``."""
    return lambda _: run()


class TaskEnded(RuntimeError):
    """A supervised coroutine returned: a long-running task never should."""


@dataclass(frozen=True, slots=True)
class TaskHealth:
    """A snapshot of one supervised task; times are Unix seconds."""

    name: str
    alive: bool
    healthy: bool
    restarts: int
    last_success: float | None
    last_error: str | None
    last_error_at: float | None
    deadline_s: float | None
    problem: str | None  # why it is not healthy

    def as_dict(self) -> dict[str, Any]:
        def t(v: float | None) -> float | None:
            return None if v is None else round(v, 3)

        return {"alive": self.alive, "healthy": self.healthy, "restarts": self.restarts,
                "last_success": t(self.last_success), "last_error": self.last_error,
                "last_error_at": t(self.last_error_at), "deadline_s": self.deadline_s}


class Supervised:
    """One supervised task's record; its coroutine receives it to report success (``ok()``)."""

    def __init__(self, name: str, run: Run, *,
                 deadline_s: float | None, ready: Flag | None, backoff: Backoff,
                 clock: Clock) -> None:
        self.name, self.run, self.deadline_s, self.ready = name, run, deadline_s, ready
        self.backoff, self._clock = backoff, clock
        self.restarts = 0
        self.failures_in_a_row = 0
        self.running = False
        self.ended = False
        self.started_at = clock()
        self.last_ok: float | None = None
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.task: asyncio.Task[None] | None = None

    def ok(self) -> None:
        """Report a success now (a periodic job's round, a message handled)."""
        self.last_ok = self._clock()

    def last_success_at(self, now: float) -> float | None:
        """Monotonic time of the last success: now while ``ready`` is set."""
        if self.ready is not None:
            if self.ready.is_set():
                return now
            up_until = self.ready.changed_at  # it went down then (if it was ever up)
            if up_until is not None and (self.last_ok is None or up_until > self.last_ok):
                return up_until
        return self.last_ok

    def health(self, now: float, wall_now: float) -> TaskHealth:
        last = self.last_success_at(now)
        problem = None
        if self.ended:
            problem = "ended"
        elif not self.running:
            problem = f"restarting after {self.last_error}"
        elif self.deadline_s is not None:
            quiet = now - (last if last is not None else self.started_at)
            if quiet > self.deadline_s:
                what = "no success" if last is not None else "no success since start"
                problem = f"{what} for {quiet:.0f} s (deadline {self.deadline_s:g} s)"
        return TaskHealth(
            name=self.name, alive=self.running, healthy=problem is None, restarts=self.restarts,
            last_success=None if last is None else wall_now - (now - last),
            last_error=self.last_error, last_error_at=self.last_error_at,
            deadline_s=self.deadline_s, problem=problem)


class Supervisor:
    """Starts, restarts and stops named tasks; ``health()`` reports on each."""

    def __init__(self, owner: str = "", *, clock: Clock = time.monotonic,
                 wall: Clock = time.time) -> None:
        self.owner = owner
        self._clock, self._wall = clock, wall
        self.tasks: dict[str, Supervised] = {}
        self._leaving: set[asyncio.Task[None]] = set()

    def start(self, name: str, run: Run, *,
              deadline_s: float | None = None, ready: Flag | None = None,
              backoff: Backoff | None = None) -> Supervised:
        """Run ``run(record)`` as task ``name`` (unique) until ``stop``/``cancel``."""
        if name in self.tasks:
            raise ValueError(f"a task named {name!r} is already supervised")
        record = Supervised(name, run, deadline_s=deadline_s, ready=ready,
                            backoff=backoff or Backoff(initial=0.5, maximum=30.0),
                            clock=self._clock)
        self.tasks[name] = record
        record.running = True
        record.task = asyncio.create_task(self._keep(record), name=name)
        record.task.add_done_callback(lambda t: self._ended(record, t))
        return record

    def every(self, name: str, period_s: float, job: Callable[[], Awaitable[object]], *,
              deadline_s: float | None = None) -> Supervised:
        """Run ``job`` now and then every ``period_s``; each round that returns is a success.

        Healthy while a round succeeded within ``deadline_s`` (default: 3 periods, at least
        10 s). A failed round is retried after a backoff from 0.5 s that grows up to the
        period, but never beyond 60 s nor capped below 5 s.
        """
        async def rounds(me: Supervised) -> None:
            while True:
                await job()
                me.ok()
                await asyncio.sleep(period_s)

        deadline = deadline_s if deadline_s is not None else max(3 * period_s, MIN_DEADLINE_S)
        cap = min(60.0, max(5.0, period_s))
        return self.start(name, rounds, deadline_s=deadline,
                          backoff=Backoff(initial=min(0.5, cap), maximum=cap))

    async def _keep(self, me: Supervised) -> None:
        where = f"{self.owner}: " if self.owner else ""
        while True:
            began = self._clock()
            me.running = True
            try:
                await me.run(me)
                raise TaskEnded(f"task {me.name} returned")
            except Exception as exc:  # the task's outer edge: logged with context, counted
                me.running = False
                stop_if_cancelled()  # a cancel that arrived while it failed still stops it
                self._count_failure(me, exc, began)
                if me.failures_in_a_row == 1:
                    log.error("%stask %s failed (restart %d): %s", where, me.name, me.restarts,
                              me.last_error, exc_info=exc)
                else:
                    log.warning("%stask %s failed again (restart %d, %d in a row): %s", where,
                                me.name, me.restarts, me.failures_in_a_row, me.last_error)
            finally:
                me.running = False
            await asyncio.sleep(me.backoff.next())

    def _count_failure(self, me: Supervised, exc: Exception, began: float) -> None:
        now = self._clock()
        last = me.last_success_at(now)
        if (last is not None and last >= began) or now - began >= STABLE_S:
            me.backoff.reset()
            me.failures_in_a_row = 0
        me.restarts += 1
        me.failures_in_a_row += 1
        me.last_error = f"{type(exc).__name__}: {exc}"
        me.last_error_at = self._wall()

    def _ended(self, me: Supervised, task: asyncio.Task[None]) -> None:
        me.running = False
        me.ended = True
        if task.cancelled():
            return
        # only a BaseException that is not an Exception (SystemExit, KeyboardInterrupt) ends
        # a task otherwise, and asyncio raises those out of the event loop itself
        log.error("%stask %s ended: %r", f"{self.owner}: " if self.owner else "", me.name,
                  task.exception())

    def cancel(self, name: str) -> asyncio.Task[None] | None:
        """Stop task ``name`` for good and forget it; ``stop()`` still waits for its end."""
        record = self.tasks.pop(name, None)
        if record is None or record.task is None:
            return None
        record.task.cancel()
        if not record.task.done():
            self._leaving.add(record.task)
            record.task.add_done_callback(self._leaving.discard)
        return record.task

    async def stop(self) -> None:
        """Cancel every task, wait until all have ended, and forget them (so the names can be
        started again)."""
        tasks = [r.task for r in self.tasks.values() if r.task is not None]
        tasks += self._leaving
        self.tasks = {}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def health(self) -> list[TaskHealth]:
        now, wall_now = self._clock(), self._wall()
        return [r.health(now, wall_now) for r in self.tasks.values()]

    def problems(self) -> list[str]:
        """``"<task>: <why>"`` for every task that is not healthy."""
        return [f"{h.name}: {h.problem}" for h in self.health() if not h.healthy]
