"""ServiceReconciler: each row is one situation and what a user would see written (patches, events, queue)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from ctl_fakes import NS, FakeApi, FakeRecorder, pool, svc, synced_store
from prometheus_client import CollectorRegistry

from reconciler.controller.config_reconciler import ConfigReconciler
from reconciler.controller.keys import CONFIG, POOL_STATUS, Key, ServiceKey
from reconciler.controller.service_reconciler import ServiceReconciler
from reconciler.controller.state import ControllerMetrics, ControllerSettings, ControllerState, PendingCollector
from reconciler.runtime.clock import FakeClock
from reconciler.runtime.metrics import ExactCounters
from reconciler.runtime.resources import SERVICES
from reconciler.runtime.store import Store

pytestmark = pytest.mark.anyio


class World:
    def __init__(self, pools: list[dict[str, Any]], services: list[dict[str, Any]]) -> None:
        self.store: Store = synced_store(pools=pools, services=services)
        self.api = FakeApi()
        for s in services:
            self.api.put(SERVICES, s)
        self.recorder = FakeRecorder()
        self.queued: list[Key] = []
        self.state = ControllerState()
        settings = ControllerSettings(namespace=NS)
        metrics = ControllerMetrics(CollectorRegistry(), ExactCounters())
        self.config = ConfigReconciler(self.store, self.state, self.queued.append, metrics, settings=settings)
        self.clock = FakeClock(wall_start=datetime.datetime(2026, 11, 27, 10, 0, tzinfo=datetime.UTC))
        self.services = ServiceReconciler(
            self.store, self.state, self.api, self.recorder, self.queued.append, settings=settings, clock=self.clock
        )

    async def load(self) -> None:
        await self.config.reconcile(CONFIG)
        self.queued.clear()

    def status_ips(self, name: str) -> list[str]:
        obj = self.api.objects[("services", "default", name)]
        return [i["ip"] for i in (obj.get("status") or {}).get("loadBalancer", {}).get("ingress", [])]


async def test_a_new_service_gets_the_lowest_free_ip_annotation_condition_and_an_event() -> None:
    w = World([pool("a", "10.0.0.0/30")], [svc("web")])
    await w.load()
    await w.services.reconcile(ServiceKey("default/web"))
    assert w.status_ips("web") == ["10.0.0.0"]
    obj = w.api.objects[("services", "default", "web")]
    assert obj["metadata"]["annotations"] == {"metallb.io/ip-allocated-from-pool": "a"}
    assert obj["status"]["conditions"][0]["type"] == "metallb.io/IPAllocated"
    assert obj["status"]["conditions"][0]["lastTransitionTime"] == "2026-11-27T10:00:00Z"  # the clock's wall time
    assert w.recorder.events == [("web", "Normal", "IPAllocated", 'Assigned IP ["10.0.0.0"]')]
    assert POOL_STATUS in w.queued


async def test_a_second_pass_writes_nothing() -> None:
    w = World([pool("a", "10.0.0.0/30")], [svc("web")])
    await w.load()
    await w.services.reconcile(ServiceKey("default/web"))
    w.store.apply(SERVICES, "MODIFIED", w.api.objects[("services", "default", "web")])
    before = len(w.api.writes)
    await w.services.reconcile(ServiceKey("default/web"))
    assert len(w.api.writes) == before


async def test_a_service_that_cannot_get_an_ip_waits_with_the_reason_and_a_warning() -> None:
    w = World([pool("a", "10.0.0.0/32")], [svc("one", ingress=("10.0.0.0",)), svc("two")])
    await w.load()
    await w.services.reconcile(ServiceKey("default/two"))
    cond = w.api.objects[("services", "default", "two")]["status"]["conditions"][0]
    assert (cond["status"], cond["reason"]) == ("False", "AllocationFailed")
    assert cond["message"] == 'no available IPs in pool "a"'
    message = 'Failed to allocate IP for "default/two": no available IPs in pool "a"'
    assert ("two", "Warning", "AllocationFailed", message) in w.recorder.events
    assert w.state.pending == {"default/two"}


async def test_deleting_a_holder_releases_its_ip_and_retries_the_waiting() -> None:
    w = World([pool("a", "10.0.0.0/32")], [svc("one", ingress=("10.0.0.0",)), svc("two")])
    await w.load()
    await w.services.reconcile(ServiceKey("default/two"))
    w.queued.clear()
    w.store.apply(SERVICES, "DELETED", w.store.get(SERVICES, "default/one") or {})
    await w.services.reconcile(ServiceKey("default/one"))
    assert w.state.alloc.allocation("default/one") is None
    assert ServiceKey("default/two") in w.queued and POOL_STATUS in w.queued


async def test_before_the_first_good_config_nothing_is_decided() -> None:
    w = World([pool("a", "10.0.0.0/30")], [svc("web")])
    await w.services.reconcile(ServiceKey("default/web"))
    assert w.api.writes == [] and w.recorder.events == []


async def test_a_service_deleted_while_patching_is_not_an_error() -> None:
    w = World([pool("a", "10.0.0.0/30")], [svc("web")])
    await w.load()
    del w.api.objects[("services", "default", "web")]
    assert await w.services.reconcile(ServiceKey("default/web")) is None


async def test_the_address_is_written_first_over_the_version_read_then_the_annotation() -> None:
    w = World([pool("a", "10.0.0.0/30")], [svc("web", rv="7")])
    await w.load()
    await w.services.reconcile(ServiceKey("default/web"))
    (_, _, _, status_sub, status), (_, _, _, meta_sub, meta) = w.api.writes
    assert status_sub == "status" and meta_sub is None
    assert status["status"]["loadBalancer"] == {"ingress": [{"ip": "10.0.0.0"}]}
    assert status["metadata"] == {"resourceVersion": "7"}, "the conditions replace only the version read"
    assert meta["metadata"]["annotations"] == {"metallb.io/ip-allocated-from-pool": "a"}


async def test_a_waiting_service_is_exported_with_its_reason_until_it_gets_an_ip() -> None:
    w = World([pool("a", "10.0.0.0/32")], [svc("one", ingress=("10.0.0.0",)), svc("two")])
    registry = CollectorRegistry()
    registry.register(PendingCollector(w.state))
    await w.load()
    await w.services.reconcile(ServiceKey("default/two"))
    labels = {"service": "default/two", "reason": 'no available IPs in pool "a"'}
    assert registry.get_sample_value("pymetallb_service_pending", labels) == 1.0
    w.store.apply(SERVICES, "DELETED", w.store.get(SERVICES, "default/one") or {})
    await w.services.reconcile(ServiceKey("default/one"))
    await w.services.reconcile(ServiceKey("default/two"))
    assert w.status_ips("two") == ["10.0.0.0"]
    assert registry.get_sample_value("pymetallb_service_pending", labels) is None
    assert w.state.pending_reasons == {}
