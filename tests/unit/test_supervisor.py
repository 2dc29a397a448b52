"""Supervisor: restarts after any failure, counts and logs it, reports health, stops on cancel."""

from __future__ import annotations

import asyncio
import logging

import pytest

from kernel.backoff import Backoff
from kernel.supervisor import Flag, Supervised, Supervisor
from tests.fixtures.waiting import eventually

QUICK = Backoff(initial=0.001, maximum=0.001)


class FakeClock:
    """Monotonic time the test moves by hand (health deadlines, not asyncio's sleeps)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def forever() -> None:
    await asyncio.sleep(3600)


async def test_a_task_that_raises_is_restarted_counted_and_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    runs = 0

    async def flaky(me: Supervised) -> None:
        nonlocal runs
        runs += 1
        if runs <= 3:
            raise ValueError(f"bad status #{runs}")
        me.ok()
        await forever()

    sup = Supervisor("server")
    caplog.set_level(logging.WARNING, "kernel.supervisor")
    try:
        record = sup.start("presence", flaky, backoff=QUICK)
        await eventually(lambda: record.last_ok is not None, 5, "the fourth run to succeed")
        [health] = sup.health()
    finally:
        await sup.stop()
    assert (health.name, health.alive, health.healthy, health.restarts) == \
        ("presence", True, True, 3)
    assert health.last_error == "ValueError: bad status #3"
    assert health.last_error_at is not None
    assert health.last_success is not None
    logged = [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert logged[0] == ("ERROR", "server: task presence failed (restart 1): "
                                  "ValueError: bad status #1", True)
    assert logged[1] == ("WARNING", "server: task presence failed again (restart 2, 2 in a row):"
                                    " ValueError: bad status #2", False)
    assert len(logged) == 3


async def test_a_task_that_returns_is_restarted_too() -> None:
    runs = 0

    async def returns(me: Supervised) -> None:
        nonlocal runs
        runs += 1
        if runs > 1:
            await forever()

    sup = Supervisor()
    try:
        record = sup.start("listener", returns, backoff=QUICK)
        await eventually(lambda: runs == 2, 5, "a second run")
    finally:
        await sup.stop()
    assert record.restarts == 1
    assert record.last_error == "TaskEnded: task listener returned"


async def test_a_periodic_job_is_healthy_only_while_its_rounds_succeed_in_time() -> None:
    clock = FakeClock()
    rounds = 0
    go_on = asyncio.Event()
    go_on.set()

    async def job() -> None:
        nonlocal rounds
        await go_on.wait()
        rounds += 1

    sup = Supervisor(clock=clock)
    try:
        sup.every("escalation", 0.001, job, deadline_s=3.0)
        await eventually(lambda: rounds >= 1, 5, "a first round")
        go_on.clear()  # the job is now stuck in its round
        await asyncio.sleep(0)
        stuck_at = rounds
        clock.now += 2.9
        [fresh] = sup.health()
        clock.now += 0.2
        [late] = sup.health()
        assert sup.problems() == ["escalation: no success for 3 s (deadline 3 s)"]
        go_on.set()
        await eventually(lambda: rounds > stuck_at + 1, 5, "rounds again")
        [again] = sup.health()
    finally:
        await sup.stop()
    assert (fresh.healthy, late.healthy, again.healthy) == (True, False, True)
    assert late.alive, "stuck, not dead: alive but unhealthy"
    assert late.restarts == 0


async def test_a_failing_periodic_job_is_unhealthy_and_reports_its_error() -> None:
    clock = FakeClock()

    async def job() -> None:
        raise ConnectionError("database down")

    sup = Supervisor(clock=clock)
    try:
        record = sup.every("supervision", 0.001, job, deadline_s=5.0)
        record.backoff = Backoff(initial=3600, maximum=3600)  # stays in its first backoff
        await eventually(lambda: record.restarts == 1, 5, "the first failure")
        [health] = sup.health()
    finally:
        await sup.stop()
    assert not health.alive
    assert not health.healthy
    assert health.problem == "restarting after ConnectionError: database down"
    assert health.last_success is None


async def test_a_listener_is_healthy_while_ready_and_for_its_deadline_after() -> None:
    clock = FakeClock()
    ready = Flag(clock)
    sup = Supervisor(clock=clock)

    async def listen(me: Supervised) -> None:
        await forever()

    try:
        sup.start("live-feed", listen, ready=ready, deadline_s=10.0)
        clock.now += 11
        never = sup.problems()
        ready.set()
        clock.now += 100
        up = sup.problems()
        ready.clear()  # lost its connection at this moment
        clock.now += 9
        briefly_down = sup.problems()
        clock.now += 2
        down = sup.problems()
        [health] = sup.health()
    finally:
        await sup.stop()
    assert never == ["live-feed: no success since start for 11 s (deadline 10 s)"]
    assert (up, briefly_down) == ([], [])
    assert down == ["live-feed: no success for 11 s (deadline 10 s)"]
    assert health.last_success is not None


async def stops_within(sup: Supervisor, record: Supervised, timeout: float = 5.0) -> None:
    """Stop the supervisor; it must end, and the task with it, however the task misbehaves."""
    stopping = asyncio.create_task(sup.stop())
    done, _ = await asyncio.wait({stopping}, timeout=timeout)
    assert done == {stopping}, f"the supervisor did not stop within {timeout} s"
    assert record.task is not None
    assert record.task.cancelled()
    assert (record.running, record.ended) == (False, True)
    assert sup.health() == [], "forgotten: the names can be started again"


async def test_a_cancel_stops_a_task_while_it_backs_off() -> None:
    async def fails(me: Supervised) -> None:
        raise OSError("broker refused")

    sup = Supervisor()
    record = sup.start("presence", fails, backoff=Backoff(initial=3600, maximum=3600))
    await eventually(lambda: record.restarts == 1, 5, "the first failure")
    await stops_within(sup, record)


async def test_a_cancel_stops_a_task_that_fails_without_pause() -> None:
    async def fails(me: Supervised) -> None:
        await asyncio.sleep(0)
        raise OSError("broker refused")

    sup = Supervisor()
    record = sup.start("presence", fails, backoff=Backoff(initial=0, maximum=0, jitter=0))
    await eventually(lambda: record.restarts > 5, 5, "failures")
    await stops_within(sup, record)


async def test_a_cancel_stops_a_task_whose_cleanup_raises_another_error() -> None:
    """A client's __aexit__ may raise its own error while cancelled (Python 3.11 then loses the
    CancelledError): the supervisor must not take that for a failure to retry."""
    started = asyncio.Event()

    async def session(me: Supervised) -> None:
        try:
            started.set()
            await forever()
        except asyncio.CancelledError:
            raise ConnectionError("connection lost while closing") from None

    sup = Supervisor()
    record = sup.start("uplink", session, backoff=QUICK)
    await started.wait()
    await stops_within(sup, record)
    assert record.restarts == 0


async def test_a_cancel_stops_a_task_that_swallows_it() -> None:
    started = asyncio.Event()

    async def swallows(me: Supervised) -> None:
        started.set()
        try:
            await forever()
        except asyncio.CancelledError:
            return  # as asyncio.wait_for may on Python 3.11

    sup = Supervisor()
    record = sup.start("heartbeat", swallows, backoff=QUICK)
    await started.wait()
    await stops_within(sup, record)


async def test_a_cancelled_task_is_forgotten_and_still_awaited_by_stop() -> None:
    sup = Supervisor()

    async def stream(me: Supervised) -> None:
        await forever()

    sup.start("ble a", stream)
    b = sup.start("ble b", stream)
    await asyncio.sleep(0)
    gone = sup.cancel("ble a")
    assert [h.name for h in sup.health()] == ["ble b"]
    assert sup.cancel("ble a") is None
    again = sup.start("ble a", stream)  # paired again
    await sup.stop()
    assert gone is not None
    assert gone.cancelled()
    assert all(r.task is not None and r.task.cancelled() for r in (b, again))


async def test_the_backoff_starts_over_once_the_task_has_worked() -> None:
    runs = 0
    go_on = asyncio.Event()

    async def flaky(me: Supervised) -> None:
        nonlocal runs
        runs += 1
        if runs == 3:
            me.ok()  # worked this time, then failed again
            await go_on.wait()
        if runs > 3:
            await forever()
        raise ConnectionError(f"lost #{runs}")

    sup = Supervisor()
    try:
        record = sup.start("uplink", flaky, backoff=Backoff(initial=0.001, maximum=1))
        await eventually(lambda: runs == 3, 5, "a third run")
        grown = record.backoff.attempt
        go_on.set()
        await eventually(lambda: runs == 4, 5, "the run after its third failure")
        after = record.backoff.attempt
    finally:
        await sup.stop()
    assert (grown, after) == (2, 1)
    assert record.failures_in_a_row == 1
