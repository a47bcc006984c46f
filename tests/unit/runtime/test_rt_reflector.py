"""Reflector against a scripted API: list → watch, resume from bookmarks, relist on 410 without a hot loop,
backoff on errors, unknown event types skipped."""

from __future__ import annotations

import asyncio
import random

import pytest
from rt_fakes import ScriptedListerWatcher, bookmark, cm, gone_event

from reconciler.runtime.client import WatchEvent
from reconciler.runtime.clock import FakeClock
from reconciler.runtime.errors import Forbidden, Gone, Unavailable
from reconciler.runtime.reflector import Reflector, ReflectorSettings
from reconciler.runtime.resources import CONFIGMAPS
from reconciler.runtime.store import Store

pytestmark = pytest.mark.anyio


def make(api: ScriptedListerWatcher, clock: FakeClock | None = None) -> tuple[Reflector, Store]:
    store = Store()
    r = Reflector(api, store, CONFIGMAPS, namespace="ns", clock=clock or FakeClock(), rng=random.Random(1))
    return r, store


async def test_lists_then_watches_from_the_lists_resource_version_with_bookmarks() -> None:
    api = ScriptedListerWatcher(
        lists=[([cm("a", "10")], "12")],
        watches=[[WatchEvent("ADDED", cm("b", "13")), WatchEvent("MODIFIED", cm("a", "14"))]],
    )
    r, store = make(api)
    await r.run(iterations=2)
    assert api.watch_calls[0]["resource_version"] == "12"
    assert api.watch_calls[0]["bookmarks"] is True
    assert 240 <= api.watch_calls[0]["timeout_seconds"] <= 360
    assert r.synced and store.synced(CONFIGMAPS)
    assert store.get(CONFIGMAPS, "ns/a")["metadata"]["resourceVersion"] == "14"  # type: ignore[index]
    assert r.resource_version == "14"


async def test_watch_timeouts_are_jittered() -> None:
    api = ScriptedListerWatcher(lists=[([], "1")], watches=[[bookmark(str(i))] for i in range(2, 12)])
    r, _ = make(api)
    await r.run(iterations=11)
    assert len({c["timeout_seconds"] for c in api.watch_calls}) > 3


async def test_resumes_from_the_last_bookmark_after_the_stream_ends() -> None:
    api = ScriptedListerWatcher(
        lists=[([], "5")],
        watches=[[WatchEvent("ADDED", cm("a", "6")), bookmark("9")], [bookmark("11")]],
    )
    r, _ = make(api)
    await r.run(iterations=3)
    assert [c["resource_version"] for c in api.watch_calls] == ["5", "9"]
    assert api.list_calls == 1, "a normal stream end must not relist"
    assert r.resource_version == "11"


async def test_in_stream_410_relists_at_once_and_replace_reports_missed_deletions() -> None:
    api = ScriptedListerWatcher(
        lists=[([cm("a", "1"), cm("b", "1")], "1"), ([cm("a", "7")], "8")],
        watches=[[gone_event()], [bookmark("9")]],
    )
    clock = FakeClock()
    r, store = make(api, clock)
    deleted: list[str] = []
    store.subscribe(lambda res, key, old, new: deleted.append(key) if new is None else None)
    await r.run(iterations=4)
    assert api.list_calls == 2
    assert [c["resource_version"] for c in api.watch_calls] == ["1", "8"]
    assert deleted == ["ns/b"]
    assert clock.monotonic() == 0, "the first 410 must relist without waiting"


async def test_http_410_on_the_watch_request_relists() -> None:
    api = ScriptedListerWatcher(
        lists=[([], "1"), ([], "5")], watches=[Gone(410, "Expired", "too old"), [bookmark("6")]]
    )
    r, _ = make(api)
    await r.run(iterations=4)
    assert api.list_calls == 2
    assert [c["resource_version"] for c in api.watch_calls] == ["1", "5"]


async def test_repeated_410_does_not_hot_loop() -> None:
    """A server that answers every watch with 410: lists are spaced by a growing backoff, not back to back."""
    api = ScriptedListerWatcher(lists=[([], str(i)) for i in range(100)], watches=[[gone_event()] for _ in range(100)])
    clock = FakeClock()
    r, _ = make(api, clock)
    task = asyncio.create_task(r.run())
    await clock.run_for(60.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # First 410 relists at once; after that 0.8 s, 1.6 s, 3.2 s, ... (x up to 1.5 jitter) capped at 30 s.
    assert 3 <= api.list_calls <= 8, api.list_calls
    assert isinstance(r.last_error, Gone)


async def test_progress_after_a_410_resets_the_no_wait_relist() -> None:
    api = ScriptedListerWatcher(
        lists=[([], "1"), ([], "2"), ([], "4")],
        watches=[[gone_event()], [WatchEvent("ADDED", cm("a", "3")), gone_event()], [bookmark("5")]],
    )
    clock = FakeClock()
    r, _ = make(api, clock)
    await r.run(iterations=6)
    assert api.list_calls == 3
    assert clock.monotonic() == 0


async def test_other_errors_back_off_exponentially_and_reset_after_success() -> None:
    err = Unavailable(0, "ConnectionError", "refused")
    api = ScriptedListerWatcher(lists=[err, err, err, ([], "1"), ([], "2")], watches=[[bookmark("2")], err])
    clock = FakeClock()
    settings = ReflectorSettings(backoff_jitter=0.0)
    r = Reflector(api, Store(), CONFIGMAPS, clock=clock, settings=settings)
    task = asyncio.create_task(r.run(iterations=6))
    waits = []
    for _ in range(4):
        await clock.wait_sleepers(1)
        waits.append(clock.next_deadline - clock.monotonic())  # type: ignore[operator]
        clock.advance(waits[-1])
    await asyncio.wait_for(task, 1)
    # three list failures: 0.8, 1.6, 3.2; then list ok, watch ok (reset), watch fails: 0.8 again
    assert waits == pytest.approx([0.8, 1.6, 3.2, 0.8])
    assert api.list_calls == 4, "a watch error resumes from the resourceVersion, it does not relist"
    assert isinstance(r.last_error, Unavailable)


async def test_backoff_is_capped() -> None:
    err = Forbidden(403, "Forbidden", "rbac")
    api = ScriptedListerWatcher(lists=[err] * 20, watches=[])
    clock = FakeClock()
    r = Reflector(api, Store(), CONFIGMAPS, clock=clock, rng=random.Random(3))
    task = asyncio.create_task(r.run(iterations=20))
    longest = 0.0
    for _ in range(20):
        await clock.wait_sleepers(1)
        wait = clock.next_deadline - clock.monotonic()  # type: ignore[operator]
        longest = max(longest, wait)
        clock.advance(wait)
    await asyncio.wait_for(task, 1)
    assert 15.0 < longest <= 30.0
    assert not r.synced


async def test_unknown_event_types_are_skipped_and_other_errors_resume() -> None:
    api = ScriptedListerWatcher(
        lists=[([], "1")],
        watches=[
            [WatchEvent("SURPRISE", {"metadata": {"resourceVersion": "99"}}), WatchEvent("ADDED", cm("a", "2"))],
            [WatchEvent("ERROR", {"kind": "Status", "code": 500, "reason": "InternalError", "message": "x"})],
            [bookmark("3")],
        ],
    )
    clock = FakeClock()
    r, store = make(api, clock)
    task = asyncio.create_task(r.run(iterations=4))
    await clock.run_for(5.0)
    await asyncio.wait_for(task, 1)
    assert store.get(CONFIGMAPS, "ns/a") is not None
    assert [c["resource_version"] for c in api.watch_calls] == ["1", "2", "2"]
    assert api.list_calls == 1


async def test_a_stream_that_ends_at_once_without_events_backs_off() -> None:
    api = ScriptedListerWatcher(lists=[([], "1")], watches=[[] for _ in range(50)])
    clock = FakeClock()
    r, _ = make(api, clock)
    task = asyncio.create_task(r.run())
    await clock.run_for(10.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(api.watch_calls) < 10, len(api.watch_calls)
