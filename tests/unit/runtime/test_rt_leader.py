"""LeaderElector on an in-memory Lease with optimistic concurrency, on a fake clock."""

from __future__ import annotations

import asyncio
import datetime
import random

import pytest
from rt_fakes import FakeLeaseApi

from reconciler.runtime.clock import FakeClock
from reconciler.runtime.errors import LeadershipLost, Unavailable
from reconciler.runtime.leader import LeaderElector

pytestmark = pytest.mark.anyio


def elector(api: FakeLeaseApi, clock: FakeClock, identity: str, **kw: float) -> LeaderElector:
    return LeaderElector(
        api, namespace="ns", name="lock", identity=identity, clock=clock, rng=random.Random(identity), **kw
    )


@pytest.mark.parametrize(
    ("durations", "message"),
    [
        pytest.param({"lease_duration": 10.0, "renew_deadline": 10.0}, "lease_duration", id="lease-not-above-renew"),
        pytest.param({"renew_deadline": 2.4, "retry_period": 2.0}, "retry_period", id="renew-not-above-jittered-retry"),
        pytest.param({"retry_period": 0.0}, "retry_period must be > 0", id="zero-retry"),
    ],
)
def test_inconsistent_durations_are_rejected(durations: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        elector(FakeLeaseApi(), FakeClock(), "a", **durations)


def test_client_go_defaults_are_accepted() -> None:
    e = elector(FakeLeaseApi(), FakeClock(), "a")
    assert (e.lease_duration, e.renew_deadline, e.retry_period) == (15.0, 10.0, 2.0)


async def test_the_lease_times_are_the_clocks_wall_time() -> None:
    api = FakeLeaseApi()
    clock = FakeClock(wall_start=datetime.datetime(2026, 11, 27, 10, 0, tzinfo=datetime.UTC))
    task = asyncio.create_task(elector(api, clock, "a").run(asyncio.Event().wait))
    await clock.run_for(0.0)
    assert api.spec("ns", "lock")["acquireTime"] == "2026-11-27T10:00:00.000000Z"
    await clock.run_for(5.0)  # renewals every retry period (2 s): the last at 4 s
    assert api.spec("ns", "lock")["renewTime"] == "2026-11-27T10:00:04.000000Z"
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_one_leads_the_other_waits_and_a_clean_stop_hands_over_at_the_next_retry() -> None:
    api, clock = FakeLeaseApi(), FakeClock()
    a, b = elector(api, clock, "a"), elector(api, clock, "b")
    leading: list[str] = []

    def work(name: str):  # type: ignore[no-untyped-def]
        async def lead() -> None:
            leading.append(name)
            await asyncio.Event().wait()

        return lead

    ta = asyncio.create_task(a.run(work("a")))
    await clock.run_for(0.0)
    tb = asyncio.create_task(b.run(work("b")))
    await clock.run_for(30.0)
    assert leading == ["a"] and a.is_leader and not b.is_leader
    assert api.spec("ns", "lock")["holderIdentity"] == "a"
    ta.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ta
    assert api.spec("ns", "lock")["holderIdentity"] == "", "a clean stop releases the lease"
    start = clock.monotonic()
    await clock.run_for(3.0)
    assert leading == ["a", "b"] and b.is_leader
    assert clock.monotonic() - start <= 3.0
    assert api.spec("ns", "lock")["leaseTransitions"] == 1
    tb.cancel()
    with pytest.raises(asyncio.CancelledError):
        await tb


async def test_a_crashed_leader_is_replaced_after_the_lease_duration_by_the_followers_clock() -> None:
    api, clock = FakeLeaseApi(), FakeClock()
    a, b = elector(api, clock, "a"), elector(api, clock, "b")
    assert await a._try_acquire_or_renew()  # a leads, then vanishes without releasing
    tb = asyncio.create_task(b.run(asyncio.Event().wait))
    await clock.run_for(14.0)
    assert not b.is_leader
    await clock.run_for(4.0)
    assert b.is_leader
    tb.cancel()
    with pytest.raises(asyncio.CancelledError):
        await tb


async def test_renewal_failing_past_the_deadline_cancels_the_work_and_raises() -> None:
    api, clock = FakeLeaseApi(), FakeClock()
    a = elector(api, clock, "a")
    cancelled = asyncio.Event()

    async def lead() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = asyncio.create_task(a.run(lead))
    await clock.run_for(5.0)
    assert a.is_leader
    api.fail = lambda verb: Unavailable(0, "ConnectionError", "down")
    await clock.run_for(15.0)
    with pytest.raises(LeadershipLost):
        await asyncio.wait_for(task, 1)
    assert cancelled.is_set() and not a.is_leader
    assert api.calls.count("get") > 3  # retried in between


async def test_a_transient_renew_failure_within_the_deadline_keeps_leadership() -> None:
    api, clock = FakeLeaseApi(), FakeClock()
    a = elector(api, clock, "a")
    task = asyncio.create_task(a.run(asyncio.Event().wait))
    await clock.run_for(3.0)
    api.fail = lambda verb: Unavailable(0, "ConnectionError", "blip")
    await clock.run_for(5.0)
    api.fail = lambda verb: None
    await clock.run_for(20.0)
    assert a.is_leader and not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_when_the_work_returns_the_lease_is_released() -> None:
    api, clock = FakeLeaseApi(), FakeClock()
    a = elector(api, clock, "a")

    async def lead() -> None:
        return None

    await asyncio.wait_for(a.run(lead), 1)
    assert api.spec("ns", "lock")["holderIdentity"] == ""
    assert api.spec("ns", "lock")["leaseDurationSeconds"] == 1


async def test_a_cancel_while_the_lease_is_being_released_still_releases_it() -> None:
    """A stopping program cancels the leader after its work returned, while the release is in flight."""
    api, clock = FakeLeaseApi(), FakeClock()
    a = elector(api, clock, "a")
    in_release, go_on = asyncio.Event(), asyncio.Event()
    replace = api.replace

    async def slow_replace(*args, **kw):  # type: ignore[no-untyped-def]
        in_release.set()
        await go_on.wait()
        return await replace(*args, **kw)

    async def lead() -> None:
        api.replace = slow_replace  # type: ignore[method-assign]  # the renewals are done: only the release

    task = asyncio.create_task(a.run(lead))
    await asyncio.wait_for(in_release.wait(), 1)
    for _ in range(2):  # a second cancel (an impatient stop) does not abandon the release either
        task.cancel()
        await asyncio.sleep(0)
    go_on.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert api.spec("ns", "lock")["holderIdentity"] == "", "the cancel waited for the release"


async def test_a_race_on_the_lease_has_one_winner() -> None:
    api, clock = FakeLeaseApi(), FakeClock()
    a, b = elector(api, clock, "a"), elector(api, clock, "b")
    await a._try_acquire_or_renew()
    api.objects[("ns", "lock")]["spec"]["holderIdentity"] = ""  # released
    results = await asyncio.gather(a._try_acquire_or_renew(), b._try_acquire_or_renew())
    assert sorted(results) == [False, True]
