"""The reconcile runtime against the real test apiserver: reflector, restart survival, leader election, status
subresource patches and Events."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest
from testenv_server import TestAPIServer

from crds.types import IPAddressPool
from reconciler.runtime.client import ApiClient
from reconciler.runtime.errors import ApiError
from reconciler.runtime.events import EventRecorder
from reconciler.runtime.leader import LeaderElector
from reconciler.runtime.reflector import Reflector, ReflectorSettings
from reconciler.runtime.resources import CONFIGMAPS, ResourceType
from reconciler.runtime.store import Store

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

POOLS = ResourceType.of(IPAddressPool)


@pytest.fixture
async def client(apiserver: TestAPIServer, anyio_backend: str) -> AsyncIterator[ApiClient]:
    async with await ApiClient.connect(str(apiserver.kubeconfig)) as c:
        yield c


async def eventually(cond: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``cond`` until true; return the seconds it took."""
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def data_of(store: Store, key: str) -> dict[str, Any] | None:
    obj = store.get(CONFIGMAPS, key)
    return None if obj is None else obj.get("data")


async def test_reflector_fills_the_store_and_sees_create_update_delete(
    apiserver: TestAPIServer, namespace: str, client: ApiClient
) -> None:
    apiserver.kubectl("-n", namespace, "create", "configmap", "before", "--from-literal=k=v0")
    store = Store()
    refl = Reflector(client, store, CONFIGMAPS, namespace=namespace)
    task = asyncio.create_task(refl.run(), name="reflector")
    try:
        await asyncio.wait_for(store.wait_synced(CONFIGMAPS), 10)
        assert data_of(store, f"{namespace}/before") == {"k": "v0"}
        await client.create(CONFIGMAPS, {"metadata": {"name": "c1"}, "data": {"k": "v1"}}, namespace)
        await eventually(lambda: data_of(store, f"{namespace}/c1") == {"k": "v1"}, 10, "create seen")
        apiserver.kubectl("-n", namespace, "patch", "configmap", "c1", "-p", '{"data":{"k":"v2"}}')
        await eventually(lambda: data_of(store, f"{namespace}/c1") == {"k": "v2"}, 10, "update seen")
        apiserver.kubectl("-n", namespace, "delete", "configmap", "c1")
        await eventually(lambda: store.get(CONFIGMAPS, f"{namespace}/c1") is None, 10, "delete seen")
        assert refl.lists == 1, "no relist needed on a healthy server"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_watch_survives_an_apiserver_restart_without_losing_the_change_made_meanwhile(
    apiserver: TestAPIServer, namespace: str, client: ApiClient
) -> None:
    apiserver.kubectl("-n", namespace, "create", "configmap", "stable", "--from-literal=k=v0")
    apiserver.kubectl("-n", namespace, "create", "configmap", "doomed")
    store = Store()
    # Short backoff cap so the test measures the apiserver's restart, not our patience.
    settings = ReflectorSettings(backoff_initial=0.2, backoff_cap=2.0)
    refl = Reflector(client, store, CONFIGMAPS, namespace=namespace, settings=settings)
    task = asyncio.create_task(refl.run(), name="reflector")
    try:
        await asyncio.wait_for(store.wait_synced(CONFIGMAPS), 10)
        watches_before = refl.watches
        t0 = time.monotonic()
        # apiserver.restart() in two halves: stop in a thread so the reflector runs (and fails, and backs off)
        # while the server is down; start on this thread, because the server is spawned with PDEATHSIG, which
        # fires when the *thread* that spawned it exits (a worker thread would take the server down with it).
        await anyio.to_thread.run_sync(apiserver.stop)
        await eventually(lambda: refl.last_error is not None, 10, "the reflector notices the server is down")
        await asyncio.sleep(1.0)
        down_error = refl.last_error
        apiserver.start()
        restarted = time.monotonic() - t0
        # Right after the restart, before our reflector has necessarily reconnected: change the world.
        t1 = time.monotonic()
        apiserver.kubectl("-n", namespace, "create", "configmap", "during", "--from-literal=k=new")
        apiserver.kubectl("-n", namespace, "patch", "configmap", "stable", "-p", '{"data":{"k":"v1"}}')
        apiserver.kubectl("-n", namespace, "delete", "configmap", "doomed")
        recovered = await eventually(
            lambda: (
                data_of(store, f"{namespace}/during") == {"k": "new"}
                and data_of(store, f"{namespace}/stable") == {"k": "v1"}
                and store.get(CONFIGMAPS, f"{namespace}/doomed") is None
            ),
            60,
            "changes made across the restart reach the Store",
        )
        print(
            f"\napiserver restart took {restarted:.2f}s; store caught up {recovered:.2f}s after the changes "
            f"({time.monotonic() - t1:.2f}s incl. kubectl); lists={refl.lists} watches={refl.watches} "
            f"(was {watches_before}); error while down: {down_error!r}"
        )
        assert refl.watches > watches_before, "the reflector reconnected"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_two_electors_one_leads_and_cancelling_it_hands_over(
    apiserver: TestAPIServer, namespace: str, client: ApiClient
) -> None:
    leading: list[tuple[str, float]] = []

    def work(name: str) -> Callable[[], Any]:
        async def lead() -> None:
            leading.append((name, time.monotonic()))
            await asyncio.Event().wait()

        return lead

    a = LeaderElector(client, namespace=namespace, name="lock", identity="replica-a")
    b = LeaderElector(client, namespace=namespace, name="lock", identity="replica-b")
    ta = asyncio.create_task(a.run(work("a")), name="elector a")
    await eventually(lambda: a.is_leader, 10, "a leads")
    tb = asyncio.create_task(b.run(work("b")), name="elector b")
    try:
        await asyncio.sleep(3.0)  # b has retried at least once
        assert [n for n, _ in leading] == ["a"] and not b.is_leader
        lease = await client.get(ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True), "lock", namespace)
        assert lease["spec"]["holderIdentity"] == "replica-a"
        stopped = time.monotonic()
        ta.cancel()
        with pytest.raises(asyncio.CancelledError):
            await ta
        # is_leader flips before b's callback task has run: wait for the callback itself.
        await eventually(lambda: b.is_leader and len(leading) == 2, 10, "b takes over and runs its callback")
        failover = leading[-1][1] - stopped
        print(f"\nleader failover after a clean stop: {failover:.2f}s (retry_period 2 s, jitter 1.2)")
        assert [n for n, _ in leading] == ["a", "b"]
        # A clean stop releases the Lease: b must not wait out the 15 s lease duration.
        assert failover < 10.0
    finally:
        for t in (ta, tb):
            t.cancel()
        await asyncio.gather(ta, tb, return_exceptions=True)


async def test_status_patch_on_a_crd_status_subresource_lands(
    apiserver: TestAPIServer, namespace: str, client: ApiClient
) -> None:
    pool = {"metadata": {"name": "p1"}, "spec": {"addresses": ["192.0.2.0/28"]}}
    created = await client.create(POOLS, pool, namespace)
    assert created["kind"] == "IPAddressPool"
    status = {"assignedIPv4": 3, "assignedIPv6": 0, "availableIPv4": 13, "availableIPv6": 0}
    patched = await client.patch(POOLS, "p1", {"status": status}, namespace, subresource="status")
    assert patched["status"] == status
    # The main resource ignores status and the status subresource ignores spec: real apiserver semantics.
    await client.patch(POOLS, "p1", {"status": {"assignedIPv4": 99}}, namespace)
    await client.patch(POOLS, "p1", {"spec": {"autoAssign": False}}, namespace, subresource="status")
    out = json.loads(apiserver.kubectl("-n", namespace, "get", "ipaddresspool", "p1", "-o", "json").stdout)
    assert out["status"]["assignedIPv4"] == 3
    assert out["spec"].get("autoAssign", True) is True


async def test_server_side_apply_and_optimistic_conflict(
    apiserver: TestAPIServer, namespace: str, client: ApiClient
) -> None:
    body = {"metadata": {"name": "ssa"}, "data": {"k": "v"}}
    applied = await client.patch(CONFIGMAPS, "ssa", body, namespace, patch_type="apply", field_manager="pymetallb")
    assert applied["data"] == {"k": "v"}
    stale = dict(applied)
    await client.patch(CONFIGMAPS, "ssa", {"data": {"k": "v2"}}, namespace)
    with pytest.raises(ApiError) as info:
        await client.replace(CONFIGMAPS, {**stale, "data": {"k": "stale"}}, namespace)
    assert info.value.status == 409


async def test_event_recorder_creates_an_event_kubectl_shows(
    apiserver: TestAPIServer, namespace: str, client: ApiClient
) -> None:
    svc = await client.create(
        ResourceType("", "v1", "services", "Service", True),
        {"metadata": {"name": "web"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
        namespace,
    )
    rec = EventRecorder(client, "metallb-controller", host="e2e")
    await rec.record(svc, "Normal", "IPAllocated", 'Assigned IP ["192.0.2.1"]')
    await rec.record(svc, "Normal", "IPAllocated", 'Assigned IP ["192.0.2.1"]')
    assert (rec.created, rec.aggregated, rec.failed) == (1, 1, 0)
    out = json.loads(apiserver.kubectl("-n", namespace, "get", "events", "-o", "json").stdout)
    ours = [e for e in out["items"] if e["reason"] == "IPAllocated"]
    assert len(ours) == 1
    ev = ours[0]
    assert ev["involvedObject"]["name"] == "web" and ev["involvedObject"]["uid"] == svc["metadata"]["uid"]
    assert ev["count"] == 2 and ev["source"]["component"] == "metallb-controller"
    table = apiserver.kubectl("-n", namespace, "get", "events").stdout
    assert "IPAllocated" in table and "service/web" in table
