"""WorkQueue: one test per client-go promise, plus delays and per-key backoff on a fake clock."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from reconciler.runtime.clock import FakeClock
from reconciler.runtime.workqueue import ExponentialRateLimiter, ShutDown, WorkQueue

pytestmark = pytest.mark.anyio


async def test_fair_keys_come_out_in_the_order_first_added() -> None:
    q: WorkQueue[str] = WorkQueue()
    for k in ["a", "b", "c", "a", "b"]:
        q.add(k)
    assert [await q.get() for _ in range(3)] == ["a", "b", "c"]
    assert len(q) == 0


async def test_stingy_many_adds_before_processing_give_one_pass() -> None:
    q: WorkQueue[str] = WorkQueue()
    for _ in range(5):
        q.add("a")
    assert len(q) == 1
    assert await q.get() == "a"
    q.done("a")
    assert len(q) == 0


async def test_stingy_a_key_is_never_handed_to_two_workers_at_once() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert await q.get() == "a"
    q.add("a")  # changed while processing
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not second.done(), "a second worker got a key that is still being processed"
    q.done("a")
    assert await asyncio.wait_for(second, 1) == "a"


async def test_a_key_added_while_processing_runs_again_after_done() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add("b")
    assert await q.get() == "a"
    q.add("a")
    assert len(q) == 1  # only b is waiting; a waits for done()
    q.done("a")
    assert [await q.get(), await q.get()] == ["b", "a"]


async def test_shutdown_wakes_waiting_getters_and_refuses_new_work() -> None:
    q: WorkQueue[str] = WorkQueue()
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await asyncio.sleep(0)
    q.shutdown()
    results = await asyncio.gather(*getters, return_exceptions=True)
    assert all(isinstance(r, ShutDown) for r in results)
    q.add("late")
    with pytest.raises(ShutDown):
        await q.get()


async def test_shutdown_hands_out_queued_keys_then_raises_and_drain_waits_for_done() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add("b")
    assert await q.get() == "a"
    q.shutdown()
    assert await q.get() == "b"
    drained = asyncio.create_task(q.drain())
    await asyncio.sleep(0)
    q.done("a")
    await asyncio.sleep(0)
    assert not drained.done()
    q.done("b")
    await asyncio.wait_for(drained, 1)
    with pytest.raises(ShutDown):
        await q.get()


async def test_a_cancelled_getter_passes_its_wakeup_on() -> None:
    q: WorkQueue[str] = WorkQueue()
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.add("a")
    first.cancel()
    assert await asyncio.wait_for(second, 1) == "a"


async def test_add_after_waits_for_the_clock() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(clock=clock)
    q.add_after("a", 5.0)
    await clock.wait_sleepers(1)
    clock.advance(4.999)
    await asyncio.sleep(0)
    assert len(q) == 0
    clock.advance(0.001)
    assert await asyncio.wait_for(q.get(), 1) == "a"


async def test_add_after_the_earliest_pending_delay_wins() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(clock=clock)
    q.add_after("a", 10.0)
    q.add_after("a", 2.0)
    q.add_after("a", 7.0)  # later than pending: ignored
    await clock.wait_sleepers(1)
    clock.advance(2.0)
    assert await asyncio.wait_for(q.get(), 1) == "a"
    q.done("a")
    await clock.run_for(20.0)
    assert len(q) == 0, "the superseded 10 s timer still fired"


async def test_add_after_zero_adds_at_once() -> None:
    q: WorkQueue[str] = WorkQueue(clock=FakeClock())
    q.add_after("a", 0)
    assert len(q) == 1


async def test_shutdown_cancels_pending_delays() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(clock=clock)
    q.add_after("a", 1.0)
    await clock.wait_sleepers(1)
    q.shutdown()
    await asyncio.sleep(0)
    assert clock.sleepers == 0


def test_rate_limiter_doubles_from_5ms_to_a_1000s_cap_per_key() -> None:
    rl: ExponentialRateLimiter[str] = ExponentialRateLimiter()
    delays = [rl.when("a") for _ in range(20)]
    assert delays[:4] == [0.005, 0.01, 0.02, 0.04]
    assert delays[-1] == 1000.0
    assert all(b >= a for a, b in itertools.pairwise(delays))
    assert rl.when("b") == 0.005, "keys back off independently"
    rl.forget("a")
    assert rl.when("a") == 0.005
    assert rl.num_requeues("a") == 1


async def test_add_rate_limited_uses_the_per_key_backoff() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(clock=clock)
    q.add_rate_limited("a")
    await clock.wait_sleepers(1)
    assert clock.next_deadline == pytest.approx(0.005)
    clock.advance(0.005)
    assert await asyncio.wait_for(q.get(), 1) == "a"
    q.done("a")
    q.add_rate_limited("a")
    await clock.wait_sleepers(1)
    assert clock.next_deadline == pytest.approx(0.005 + 0.01)
    assert q.num_requeues("a") == 2
    q.forget("a")
    assert q.num_requeues("a") == 0
    q.shutdown()


async def test_many_delayed_keys_share_one_timer_task_and_come_out_in_deadline_order() -> None:
    clock = FakeClock()
    q: WorkQueue[int] = WorkQueue(clock=clock)
    before = len(asyncio.all_tasks())
    for i in range(500):
        q.add_after(i, 10.0 - i * 0.01)  # later keys are due earlier
    q.add_after(7, 0.5)  # an earlier delay for a waiting key wakes the timer to sleep less
    await asyncio.sleep(0)
    assert len(asyncio.all_tasks()) - before <= 3, "one delay server (and its two waits), not one task per key"
    await clock.run_for(0.5)
    assert len(q) == 1 and await q.get() == 7
    q.done(7)
    await clock.run_for(10.0)
    got = [await q.get() for _ in range(499)]
    assert got == [i for i in range(499, -1, -1) if i != 7]
    q.shutdown()
