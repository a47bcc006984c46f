"""EventRecorder: the Event's shape, aggregation of repeats, recreation after expiry, never raising."""

from __future__ import annotations

import datetime
from typing import Any

import anyio
import pytest
from rt_fakes import FakeEventApi

from reconciler.runtime.clock import FakeClock
from reconciler.runtime.errors import Forbidden
from reconciler.runtime.events import EventRecorder

pytestmark = pytest.mark.anyio

SVC = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "app", "uid": "u-1", "resourceVersion": "7"},
}
T0 = datetime.datetime(2026, 11, 27, 10, 0, 0, tzinfo=datetime.UTC)


async def test_an_event_names_its_object_source_and_times() -> None:
    api = FakeEventApi()
    rec = EventRecorder(api, "metallb-controller", host="node-1", clock=FakeClock(wall_start=T0))
    await rec.record(SVC, "Normal", "IPAllocated", 'Assigned IP ["192.0.2.1"]')
    ((ns, name), ev), *_ = api.events.items()
    assert ns == "app" and name.startswith("web.")
    assert ev["involvedObject"] == {
        "apiVersion": "v1",
        "kind": "Service",
        "name": "web",
        "namespace": "app",
        "uid": "u-1",
        "resourceVersion": "7",
    }
    assert ev["source"] == {"component": "metallb-controller", "host": "node-1"}
    assert (ev["type"], ev["reason"], ev["count"]) == ("Normal", "IPAllocated", 1)
    assert ev["firstTimestamp"] == ev["lastTimestamp"] == "2026-11-27T10:00:00Z"


async def test_repeats_patch_the_count_instead_of_creating() -> None:
    api = FakeEventApi()
    clock = FakeClock(wall_start=T0)
    rec = EventRecorder(api, "c", clock=clock)
    for _ in range(2):
        await rec.record(SVC, "Warning", "AllocationFailed", "no available IPs")
    clock.advance(30)
    await rec.record(SVC, "Warning", "AllocationFailed", "no available IPs")
    await rec.record(SVC, "Warning", "AllocationFailed", "another message")
    assert (api.creates, api.patches) == (2, 2)
    first = next(ev for ev in api.events.values() if ev["message"] == "no available IPs")
    assert first["count"] == 3
    assert first["firstTimestamp"] == "2026-11-27T10:00:00Z"
    assert first["lastTimestamp"] == "2026-11-27T10:00:30Z"


async def test_an_expired_event_is_created_again() -> None:
    api = FakeEventApi()
    rec = EventRecorder(api, "c", clock=FakeClock(wall_start=T0))
    await rec.record(SVC, "Normal", "R", "m")
    api.events.clear()
    await rec.record(SVC, "Normal", "R", "m")
    assert api.creates == 2 and len(api.events) == 1
    assert next(iter(api.events.values()))["count"] == 1


async def test_cluster_scoped_objects_get_events_in_default() -> None:
    api = FakeEventApi()
    rec = EventRecorder(api, "c", clock=FakeClock(wall_start=T0))
    await rec.record({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}, "Normal", "R", "m")
    ((ns, _), ev), *_ = api.events.items()
    assert ns == "default" and "namespace" not in ev["involvedObject"]


async def test_errors_are_logged_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    api = FakeEventApi()
    api.error = Forbidden(403, "Forbidden", "events is forbidden")
    rec = EventRecorder(api, "c", clock=FakeClock(wall_start=T0))
    await rec.record(SVC, "Normal", "R", "m")
    api.error = RuntimeError("bug in transport")
    await rec.record(SVC, "Normal", "R", "m")
    assert rec.failed == 2
    assert "events is forbidden" in caplog.text


class _SlowEventApi(FakeEventApi):
    """Creates wait until released, so a test can see post() return before the round trip."""

    def __init__(self) -> None:
        super().__init__()
        self.release = anyio.Event()

    async def create(self, res: Any, obj: Any, namespace: str | None = None) -> dict[str, Any]:
        await self.release.wait()
        return await super().create(res, obj, namespace)


async def test_posted_events_go_out_in_order_stamped_when_posted() -> None:
    api = _SlowEventApi()
    clock = FakeClock(wall_start=T0)
    rec = EventRecorder(api, "c", clock=clock)
    rec.post(SVC, "Normal", "IPAllocated", "first")
    clock.advance(5)
    rec.post(SVC, "Warning", "AllocationFailed", "second")
    assert api.creates == 0, "post() does not wait for the API"
    clock.advance(60)
    api.release.set()
    await rec.flush()
    events = sorted(api.events.values(), key=lambda ev: ev["metadata"]["name"])
    assert [(ev["message"], ev["firstTimestamp"]) for ev in events] == [
        ("first", "2026-11-27T10:00:00Z"),
        ("second", "2026-11-27T10:00:05Z"),
    ]


async def test_a_full_backlog_drops_the_oldest_and_counts_it() -> None:
    api = _SlowEventApi()
    clock = FakeClock(wall_start=T0)
    rec = EventRecorder(api, "c", backlog=2, clock=clock)
    rec.post(SVC, "Normal", "IPAllocated", "m0")
    await anyio.sleep(0)  # the sender takes m0 and waits on the API
    for i in range(1, 4):
        clock.advance(1)
        rec.post(SVC, "Normal", "IPAllocated", f"m{i}")
    api.release.set()
    await rec.flush()
    assert rec.dropped == 1, "one in flight, two waiting, the oldest waiting one dropped"
    assert sorted(ev["message"] for ev in api.events.values()) == ["m0", "m2", "m3"]
