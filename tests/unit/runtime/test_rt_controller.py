"""The work loop: three outcomes in one handler; one key is never reconciled twice at once."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from reconciler.runtime.clock import FakeClock
from reconciler.runtime.controller import run_workers
from reconciler.runtime.errors import TerminalError
from reconciler.runtime.workqueue import WorkQueue

pytestmark = pytest.mark.anyio


async def test_none_is_done_and_forgets_backoff() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(clock=clock)
    q.rate_limiter.when("a")
    q.add("a")
    seen: list[str] = []

    async def reconcile(key: str) -> None:
        seen.append(key)
        q.shutdown()

    stats = await asyncio.wait_for(run_workers(q, reconcile, name="t"), 1)
    assert seen == ["a"] and stats.succeeded == 1
    assert q.num_requeues("a") == 0


async def test_a_delay_requeues_after_that_many_seconds() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(clock=clock)
    q.add("a")
    times: list[float] = []

    async def reconcile(key: str) -> float | None:
        times.append(clock.monotonic())
        return 30.0 if len(times) < 3 else None

    task = asyncio.create_task(run_workers(q, reconcile, name="t"))
    await clock.run_for(100.0)
    q.shutdown()
    stats = await asyncio.wait_for(task, 1)
    assert times == [0.0, 30.0, 60.0]
    assert (stats.requeued_after, stats.succeeded) == (2, 1)


async def test_an_exception_requeues_with_growing_backoff_and_success_forgets() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(clock=clock)
    q.add("a")
    times: list[float] = []

    async def reconcile(key: str) -> None:
        times.append(clock.monotonic())
        if len(times) < 4:
            raise RuntimeError("transient")

    task = asyncio.create_task(run_workers(q, reconcile, name="t"))
    await clock.run_for(1.0)
    q.shutdown()
    stats = await asyncio.wait_for(task, 1)
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(times)]
    assert gaps == [0.005, 0.01, 0.02]
    assert (stats.failed, stats.succeeded) == (3, 1)
    assert q.num_requeues("a") == 0


async def test_a_terminal_error_is_not_retried() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(clock=clock)
    q.add("a")
    calls = 0

    async def reconcile(key: str) -> None:
        nonlocal calls
        calls += 1
        raise TerminalError("pool name is invalid")

    task = asyncio.create_task(run_workers(q, reconcile, name="t"))
    await clock.run_for(2000.0)
    q.shutdown()
    stats = await asyncio.wait_for(task, 1)
    assert calls == 1 and stats.terminal == 1


async def test_many_workers_never_reconcile_one_key_concurrently() -> None:
    q: WorkQueue[str] = WorkQueue()
    running: set[str] = set()
    overlaps = 0
    passes = 0

    async def reconcile(key: str) -> None:
        nonlocal overlaps, passes
        if key in running:
            overlaps += 1
        running.add(key)
        await asyncio.sleep(0)
        q.add(key)  # changed while processing
        await asyncio.sleep(0)
        running.discard(key)
        passes += 1
        if passes >= 200:
            q.shutdown()

    for k in "abc":
        q.add(k)
    await asyncio.wait_for(run_workers(q, reconcile, workers=8, name="t"), 5)
    assert overlaps == 0
    assert passes >= 200


async def test_cancelling_the_workers_marks_the_key_done() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    started = asyncio.Event()

    async def reconcile(key: str) -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(run_workers(q, reconcile, name="t"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    q.add("a")
    assert await asyncio.wait_for(q.get(), 1) == "a"
