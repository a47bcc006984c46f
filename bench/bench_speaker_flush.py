"""The speaker's layer 2 decision path at scale, in one process: what one Service change costs the event loop.

A ``SpeakerController`` over a Store holding 10,000 Services (one IPv6 ingress IP each, an EndpointSlice each,
compacted as the speaker's reflectors store them), three Nodes all alive, one pool and one L2Advertisement,
driving a real ``L2Responder`` on one fake interface (a socketpair stands in for the packet socket: no root,
nothing on any wire). This node wins about a third of the IPs, as in ``bench_speaker``'s three-node cluster.

Figures:

1. cold: every Service decided and the first flush (what a start or a full resync costs, one pass);
2. one change: a Service this node wins created, then deleted, CHANGES times each; the time from the Store
   event to the responder answering the new state (the ``ServiceKey`` decision, then the ``FlushKey`` flush),
   p50/p99 wall and median CPU. The loop does nothing else meanwhile, so this is how long one change holds it;
3. a death: member ``b`` declared dead (as the membership bridge reports it); the time until the flush that
   hands this node its new IPs, and how many Services were decided again to get there (a failover at scale is
   detection plus this).

No timed assertion anywhere; targets are in docs/benchmarks.md. Run: ``python -m bench.bench_speaker_flush``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import time
from ipaddress import IPv6Address
from typing import Any

from prometheus_client import CollectorRegistry

from reconciler.core.l2 import election_order
from reconciler.runtime.metrics import ExactCounters
from reconciler.runtime.resources import ENDPOINTSLICES, NODES, SECRETS, SERVICES
from reconciler.runtime.store import Store
from reconciler.runtime.workqueue import WorkQueue
from speaker.controller import CONFIG, Key, SpeakerController, SpeakerSettings
from speaker.l2.interfaces import Interface
from speaker.l2.responder import L2Responder
from speaker.resources import (
    ADVERTISEMENTS_L2,
    BGP_STATUSES,
    CONFIG_KINDS,
    L2_STATUSES,
    POOLS,
    STATES,
    compact_node,
    compact_slice,
    compact_speaker_service,
)

SERVICES_N = 10_000
CHANGES = 200
NS = "metallb-system"
NODE_NAMES = ("a", "b", "c")
ME = "a"
ETH0 = Interface("eth0", 2, bytes.fromhex("020000000001"), True, True, False, False, IPv6Address("fe80::2"))


def _ip(i: int) -> str:
    return f"2001:db8:100::{i + 1:x}"


def _service(i: int) -> dict[str, Any]:
    return compact_speaker_service(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"s{i}", "namespace": "default", "resourceVersion": "1", "uid": f"u{i}"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]},
            "status": {"loadBalancer": {"ingress": [{"ip": _ip(i)}]}},
        }
    )


def _slice(i: int) -> dict[str, Any]:
    return compact_slice(
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": f"s{i}-x", "namespace": "default", "labels": {"kubernetes.io/service-name": f"s{i}"}},
            "addressType": "IPv6",
            "endpoints": [
                {"addresses": [f"2001:db8:244::{k}:{i + 1:x}"], "nodeName": n, "conditions": {"ready": True}}
                for k, n in enumerate(NODE_NAMES, 1)
            ],
        }
    )


def _node(name: str) -> dict[str, Any]:
    return compact_node(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.1"}], "conditions": []},
        }
    )


class _Link:
    """The packet socket's stand-in: a readable fd that never has a frame, sends that go nowhere."""

    def __init__(self, iface: Interface) -> None:
        self._ours, self._theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)

    def fileno(self) -> int:
        return self._ours.fileno()

    def recv_batch(self, limit: int) -> list[bytes]:
        return []

    def send(self, frame: bytes) -> bool:
        return True

    def join(self, group: IPv6Address) -> None:
        pass

    def leave(self, group: IPv6Address) -> None:
        pass

    def close(self) -> None:
        self._ours.close()
        self._theirs.close()


class _Recorder:
    def post(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        pass


async def _scan() -> dict[str, Interface]:
    return {"eth0": ETH0}


async def _drain(queue: WorkQueue[Key], speaker: SpeakerController) -> None:
    while len(queue):
        key = await queue.get()
        try:
            await speaker.reconcile(key)
        finally:
            queue.done(key)


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    return f"p50 {statistics.median(ordered):.3f} ms, p99 {ordered[int(len(ordered) * 0.99)]:.3f} ms"


async def _run() -> None:
    store = Store()
    for res in (SERVICES, ENDPOINTSLICES, NODES, SECRETS, L2_STATUSES, BGP_STATUSES, STATES, *CONFIG_KINDS):
        store.replace(res, [], "1")
    store.replace(NODES, [_node(n) for n in NODE_NAMES], "1")
    pool = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": "vips", "namespace": NS, "resourceVersion": "1"},
        "spec": {"addresses": ["2001:db8:100::/64"]},
    }
    l2 = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "L2Advertisement",
        "metadata": {"name": "all", "namespace": NS, "resourceVersion": "1"},
        "spec": {},
    }
    store.replace(POOLS, [pool], "1")
    store.replace(ADVERTISEMENTS_L2, [l2], "1")
    store.replace(SERVICES, [_service(i) for i in range(SERVICES_N)], "1")
    store.replace(ENDPOINTSLICES, [_slice(i) for i in range(SERVICES_N)], "1")
    queue: WorkQueue[Key] = WorkQueue(name="bench")
    writes: WorkQueue[Key] = WorkQueue(name="bench-writes")  # status writes: queued, never sent (no API here)
    loop = asyncio.get_running_loop()
    async with L2Responder(link_factory=_Link, scanner=_scan, rescan_every=3600.0) as responder:
        speaker = SpeakerController(
            store,
            queue,
            None,
            _Recorder(),  # type: ignore[arg-type]
            responder,
            settings=SpeakerSettings(node=ME, namespace=NS),
            registry=CollectorRegistry(),
            exact=ExactCounters(),
            members=lambda: frozenset(NODE_NAMES),
            writes=writes,
            clock=loop.time,
        )
        store.subscribe(speaker.on_store_change)
        t0, c0 = time.perf_counter(), time.process_time()
        queue.add(CONFIG)
        await _drain(queue, speaker)
        cold = (time.perf_counter() - t0, time.process_time() - c0)
        announced = sum(1 for i in range(SERVICES_N) if speaker.users_of(IPv6Address(_ip(i))))
        mine = [i for i in range(SERVICES_N, SERVICES_N * 2) if election_order(NODE_NAMES, _ip(i), {})[0] == ME]
        wall: list[float] = []
        cpu: list[float] = []
        for i in mine[:CHANGES]:
            for event in ("ADDED", "DELETED"):
                w0, c0 = time.perf_counter(), time.process_time()
                if event == "ADDED":
                    store.apply(ENDPOINTSLICES, event, _slice(i))
                store.apply(SERVICES, event, _service(i))
                await _drain(queue, speaker)
                wall.append((time.perf_counter() - w0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
                if event == "DELETED":
                    store.apply(ENDPOINTSLICES, event, _slice(i))
                    await _drain(queue, speaker)
                assert bool(responder.served_on(IPv6Address(_ip(i)))) == (event == "ADDED"), (i, event)
        # 3: a member declared dead: the Services it held are decided again, then one flush.
        members = set(NODE_NAMES)
        speaker.members = lambda: frozenset(members)
        before_dead = len([i for i in range(SERVICES_N) if speaker.users_of(IPv6Address(_ip(i)))])
        members.discard("b")
        updates = speaker.metrics.updates.value()  # metallb_k8s_client_updates_total: one per Service decided
        t0, c0 = time.perf_counter(), time.process_time()
        speaker.members_changed(frozenset({"b"}), loop.time(), frozenset())  # as the membership bridge calls it
        await _drain(queue, speaker)
        death = (time.perf_counter() - t0, time.process_time() - c0)
        decided = int(speaker.metrics.updates.value() - updates)
        after_dead = len([i for i in range(SERVICES_N) if speaker.users_of(IPv6Address(_ip(i)))])
    print(
        f"bench_speaker_flush: {SERVICES_N:,} Services, this node announces {announced:,} of their IPs; "
        f"{os.cpu_count()} cores (one used), load average {os.getloadavg()[0]:.1f}"
    )
    print(f"  cold: every Service decided + first flush: {cold[0]:.2f} s wall, {cold[1]:.2f} s CPU")
    print(
        f"  one Service changed (created or deleted, {len(wall)} changes), Store event -> responder answers: "
        f"{_ms(wall)}; CPU median {statistics.median(cpu):.3f} ms"
    )
    print(
        f"  member b declared dead -> flushed: {death[0]:.3f} s wall, {death[1]:.3f} s CPU; {decided:,} Services "
        f"decided again (this node announced {before_dead:,} IPs, now {after_dead:,})"
    )


def main() -> None:
    asyncio.run(_run())


if __name__ == "__main__":
    main()
