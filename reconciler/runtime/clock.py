"""Time as a parameter: the ``Clock`` protocol, the real clock, and a fake clock for tests.

One clock gives both kinds of time a program needs: ``monotonic()`` to measure intervals and ``sleep()`` to wait
(leases, backoff, queues), and ``now()`` for wall time written into objects (Lease renewTime, Event timestamps,
status conditions, certificate validity, credential expiry).

Promises:

* Every component of the runtime that waits or measures time, or writes a timestamp, takes a ``Clock``; none
  reads ``time`` or ``datetime.now`` directly.
* ``now()`` is timezone-aware UTC. ``FakeClock.now()`` moves with ``advance()``: it is ``wall_start`` plus the
  fake time elapsed, so a test that advances 30 s sees both clocks move 30 s.
* ``FakeClock.sleep`` returns only when a test calls ``advance()`` past its deadline, so timing tests assert on
  clock values and never really sleep. Sleepers wake in deadline order (ties: the order they started sleeping).
* ``wait_for(clock, awaitable, timeout)`` bounds an awaitable by the given clock's time, so a deadline measured on a
  ``FakeClock`` is honoured in tests exactly as a real one in production.

Not promised: ``monotonic()`` is only meaningful as a difference within one process (it is not wall time).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import heapq
import itertools
import time
from collections.abc import Awaitable
from typing import Protocol, TypeVar

__all__ = ["Clock", "FakeClock", "RealClock", "kube_time", "wait_for"]

T = TypeVar("T")


class Clock(Protocol):
    """A monotonic time source, a way to wait on it, and the wall time."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary start; never goes backwards."""
        ...

    def now(self) -> datetime.datetime:
        """The wall time, timezone-aware UTC. May jump (NTP, an operator): never measure intervals with it."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return after ``seconds`` of this clock's time (at once when ``seconds <= 0``)."""
        ...


class RealClock:
    """The process's monotonic clock, ``asyncio.sleep`` and the system's wall clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that moves only when the test says so; its wall time starts at ``wall_start`` and moves with it.

    ``sleep()`` parks the caller until ``advance()`` moves time to or past its deadline. ``wait_sleepers(n)`` lets a
    test wait until ``n`` tasks are parked, which is the synchronisation point between "the code under test is now
    waiting" and "advance time".
    """

    WALL_START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)

    def __init__(self, start: float = 0.0, *, wall_start: datetime.datetime = WALL_START) -> None:
        if wall_start.tzinfo is None:
            raise ValueError("FakeClock: wall_start must be timezone-aware")
        self._now = start
        self._start = start
        self._wall_start = wall_start
        # Invariant: every entry's future is pending or cancelled; done futures are dropped on advance().
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def now(self) -> datetime.datetime:
        return self._wall_start + datetime.timedelta(seconds=self._now - self._start)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), fut))
        await fut

    @property
    def sleepers(self) -> int:
        """How many tasks are parked in ``sleep()`` now."""
        return sum(1 for _, _, fut in self._sleepers if not fut.done())

    @property
    def next_deadline(self) -> float | None:
        """The earliest deadline of a parked sleeper, or None."""
        pending = [d for d, _, fut in self._sleepers if not fut.done()]
        return min(pending) if pending else None

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has come (they run at the next loop turn)."""
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    async def wait_sleepers(self, count: int = 1, *, turns: int = 10_000) -> None:
        """Wait (in loop turns, not time) until at least ``count`` tasks sleep; fail after ``turns`` loop turns."""
        for _ in range(turns):
            if self.sleepers >= count:
                return
            await asyncio.sleep(0)
        raise AssertionError(f"expected {count} sleepers, have {self.sleepers}")

    async def run_for(self, seconds: float, *, step: float = 0.001) -> None:
        """Advance time by ``seconds`` jumping from deadline to deadline, letting woken tasks run in between."""
        end = self._now + seconds
        while True:
            for _ in range(50):  # let woken tasks run and park again
                await asyncio.sleep(0)
            nxt = self.next_deadline
            if nxt is None or nxt > end:
                break
            self.advance(max(nxt - self._now, 0.0))
        self.advance(max(end - self._now, 0.0))
        for _ in range(50):
            await asyncio.sleep(0)


def kube_time(moment: datetime.datetime) -> str:
    """``metav1.Time`` on the wire: RFC 3339 in UTC, whole seconds (``2026-11-27T10:00:00Z``)."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def wait_for(clock: Clock, aw: Awaitable[T], timeout: float) -> T:
    """Await ``aw`` but give up after ``timeout`` seconds of ``clock`` time with ``TimeoutError``.

    Like ``asyncio.wait_for`` but on an injected clock; the awaitable is cancelled on timeout.
    """
    task = asyncio.ensure_future(aw)
    timer = asyncio.ensure_future(clock.sleep(timeout))
    try:
        done, _ = await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        timer.cancel()
        raise
    timer.cancel()
    if task in done:
        return task.result()
    task.cancel()
    # The call may fail while being cancelled; the timeout is what we report.
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    raise TimeoutError(f"timed out after {timeout:g}s")
